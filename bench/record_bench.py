"""Recorder benchmark: what `reprise record` adds to a call, on loopback.

    python bench/record_bench.py [--requests 400] [--streams 40] [--latency 0.05]

The provider (tests/servers.py's FakeProvider), the recorder (`reprise record`, storing into
a temporary store) and the client each run in their own process. Prints per-request latency
direct vs through the recorder (p50/p99 and what the recorder adds), the recorder's CPU time
per call (on its event loop, and in all), and time to first token of a streamed response
direct vs through the recorder. Direct and proxied calls alternate one by one on one client
with warm connections, against the same provider. Targets: ≤ 2 ms added at p50; TTFT within
5% of direct. uvicorn uses httptools and uvloop when they are installed (`uvicorn[standard]`);
run with and without them on PYTHONPATH to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
WRITE_SETTLE = 0.5  # seconds for the recorder's writer thread to store what it was given
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "Say something."}]}


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line.rsplit(" ", 1)[-1]


def cpu_seconds(pid: int, tid: int | None = None, kind: str = "both") -> float:
    """User + system CPU time of a process, or of one of its threads (Linux /proc)."""
    stat = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    ticks = {"user": int(fields[11]), "system": int(fields[12])}
    return (ticks[kind] if kind in ticks else sum(ticks.values())) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def one_call(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.post(url, json=BODY)
    response.read()
    assert response.status_code == 200, response.text
    return (time.perf_counter() - started) * 1000


def one_ttft(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    first = None
    with client.stream("POST", url, json={**BODY, "stream": True}) as response:
        for line in response.iter_lines():
            if first is None and '"content"' in line:
                first = (time.perf_counter() - started) * 1000
    assert first is not None
    return first


def paired(measure: Any, client: httpx.Client, direct_url: str, proxied_url: str,
           n: int) -> tuple[list[float], list[float]]:
    """`n` calls each way, alternating call by call (and which goes first), so machine load
    and connection state hit both paths alike."""
    direct, proxied = [], []
    for i in range(n):
        if i % 2:
            proxied.append(measure(client, proxied_url))
            direct.append(measure(client, direct_url))
        else:
            direct.append(measure(client, direct_url))
            proxied.append(measure(client, proxied_url))
    return direct, proxied


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds the provider waits before its first byte (for TTFT)")
    args = parser.parse_args()
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fast, fast_url = start([sys.executable, "-m", "tests.servers"], env)
            slow, slow_url = start([sys.executable, "-m", "tests.servers", "--latency",
                                    str(args.latency)], env)
            procs += [fast, slow]
            db = str(Path(tmp) / "bench.db")
            rec, rec_url = start([sys.executable, "-m", "tui.cli", "--db", db, "record",
                                  "--port", "0", "--upstream-openai", fast_url], env)
            rec_slow, rec_slow_url = start(
                [sys.executable, "-m", "tui.cli", "--db", db, "record", "--port", "0",
                 "--upstream-openai", slow_url], env)
            procs += [rec, rec_slow]
            path = "/v1/chat/completions"
            # One client for both paths; warm-up calls open its connections (and the
            # recorder's to the provider) so every measured call reuses a warm connection.
            with httpx.Client(timeout=30) as client:
                paired(one_call, client, fast_url + path, rec_url + path, 20)
                time.sleep(WRITE_SETTLE)
                cpu_before = (cpu_seconds(rec.pid), cpu_seconds(rec.pid, rec.pid),
                              cpu_seconds(rec.pid, kind="system"))
                direct, proxied = paired(one_call, client, fast_url + path, rec_url + path,
                                         args.requests)
                time.sleep(WRITE_SETTLE)  # the writer stores the last calls: count that too
                cpu_all = cpu_seconds(rec.pid) - cpu_before[0]
                cpu_loop = cpu_seconds(rec.pid, rec.pid) - cpu_before[1]
                cpu_system = cpu_seconds(rec.pid, kind="system") - cpu_before[2]
                paired(one_ttft, client, slow_url + path, rec_slow_url + path, 3)
                t_direct, t_proxied = paired(one_ttft, client, slow_url + path,
                                             rec_slow_url + path, args.streams)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
    p50d, p50p = statistics.median(direct), statistics.median(proxied)
    p99d, p99p = percentile(direct, 0.99), percentile(proxied, 0.99)
    td, tp = statistics.median(t_direct), statistics.median(t_proxied)
    per_call = cpu_all * 1000 / len(proxied)
    on_loop = cpu_loop * 1000 / len(proxied)
    load = os.getloadavg()[0]
    figures = {
        "requests": len(direct),
        "direct_p50_ms": round(p50d, 3), "proxy_p50_ms": round(p50p, 3),
        "added_p50_ms": round(p50p - p50d, 3),
        "direct_p99_ms": round(p99d, 3), "proxy_p99_ms": round(p99p, 3),
        "added_p99_ms": round(p99p - p99d, 3),
        "streams": len(t_direct),
        "ttft_direct_ms": round(td, 2), "ttft_proxy_ms": round(tp, 2),
        "ttft_ratio": round(tp / td, 4),
        "recorder_cpu_ms_per_request": round(per_call, 3),
        "recorder_loop_cpu_ms_per_request": round(on_loop, 3),
        "recorder_system_cpu_ms_per_request": round(cpu_system * 1000 / len(proxied), 3),
        "http": _installed("httptools", "h11"), "loop": _installed("uvloop", "asyncio"),
        "load_average": round(load, 2),
    }
    print(f"latency per request over {len(direct)} calls: direct p50 {p50d:.2f} ms, p99"
          f" {p99d:.2f} ms; through reprise record p50 {p50p:.2f} ms, p99 {p99p:.2f} ms")
    print(f"added by the recorder: p50 {p50p - p50d:.2f} ms (target <= 2 ms),"
          f" p99 {p99p - p99d:.2f} ms")
    print(f"recorder CPU time per request: {per_call:.2f} ms, of which {on_loop:.2f} ms on the"
          f" request path (event loop) and the rest storing (writer thread);"
          f" {cpu_system * 1000 / len(proxied):.2f} ms in the kernel (sockets, disk);"
          f" server {figures['http']}/{figures['loop']}")
    print(f"time to first token over {len(t_direct)} streams (provider waits"
          f" {args.latency * 1000:.0f} ms): direct {td:.2f} ms, through the recorder {tp:.2f} ms"
          f" ({(tp / td - 1) * 100:+.1f}%, target within 5%)")
    print(f"load average {load:.1f} on {os.cpu_count()} cores (wall-clock figures include"
          " waiting for a CPU)")
    print(json.dumps(figures))


def _installed(fast: str, fallback: str) -> str:
    """What uvicorn picks in the recorder's environment ("auto" prefers the fast one)."""
    import importlib.util

    return fast if importlib.util.find_spec(fast) is not None else fallback


if __name__ == "__main__":
    main()

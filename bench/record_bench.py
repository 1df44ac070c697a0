"""Recorder benchmark: what `reprise record` adds to a call, on loopback.

    python bench/record_bench.py [--requests 400] [--streams 40] [--latency 0.05]

The provider (tests/servers.py's FakeProvider), the recorder (`reprise record`, storing into
a temporary store) and the client each run in their own process. Prints per-request latency
direct vs through the recorder (p50/p99 and what the recorder adds), and time to first token
of a streamed response direct vs through the recorder. Targets: ≤ 2 ms added at p50; TTFT
within 5% of direct.
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

import httpx

ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "Say something."}]}


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line.rsplit(" ", 1)[-1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), independent of machine load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latencies(client: httpx.Client, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.post(url, json=BODY)
        response.read()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return times


def ttfts(client: httpx.Client, url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        with client.stream("POST", url, json={**BODY, "stream": True}) as response:
            first = None
            for line in response.iter_lines():
                if first is None and '"content"' in line:
                    first = (time.perf_counter() - started) * 1000
            assert first is not None
            times.append(first)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds the provider waits before its first byte (for TTFT)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
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
            with httpx.Client(timeout=30) as client:
                latencies(client, fast_url + path, 20)  # warm up both paths
                latencies(client, rec_url + path, 20)
                direct, proxied = [], []
                cpu_proxy = 0.0
                for _ in range(4):  # interleave so machine load hits both alike
                    direct += latencies(client, fast_url + path, args.requests // 4)
                    before = cpu_seconds(rec.pid)
                    proxied += latencies(client, rec_url + path, args.requests // 4)
                    cpu_proxy += cpu_seconds(rec.pid) - before
                ttfts(client, slow_url + path, 3)
                ttfts(client, rec_slow_url + path, 3)
                t_direct, t_proxied = [], []
                for _ in range(4):
                    t_direct += ttfts(client, slow_url + path, args.streams // 4)
                    t_proxied += ttfts(client, rec_slow_url + path, args.streams // 4)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
    p50d, p50p = statistics.median(direct), statistics.median(proxied)
    p99d, p99p = percentile(direct, 0.99), percentile(proxied, 0.99)
    td, tp = statistics.median(t_direct), statistics.median(t_proxied)
    figures = {
        "requests": len(direct),
        "direct_p50_ms": round(p50d, 3), "proxy_p50_ms": round(p50p, 3),
        "added_p50_ms": round(p50p - p50d, 3),
        "direct_p99_ms": round(p99d, 3), "proxy_p99_ms": round(p99p, 3),
        "added_p99_ms": round(p99p - p99d, 3),
        "streams": len(t_direct),
        "ttft_direct_ms": round(td, 2), "ttft_proxy_ms": round(tp, 2),
        "ttft_ratio": round(tp / td, 4),
        "recorder_cpu_ms_per_request": round(cpu_proxy * 1000 / len(proxied), 3),
        "load_average": os.getloadavg()[0],
    }
    print(f"latency per request over {len(direct)} calls: direct p50 {p50d:.2f} ms, p99"
          f" {p99d:.2f} ms; through reprise record p50 {p50p:.2f} ms, p99 {p99p:.2f} ms")
    print(f"added by the recorder: p50 {p50p - p50d:.2f} ms (target <= 2 ms),"
          f" p99 {p99p - p99d:.2f} ms")
    print(f"recorder CPU time per request (proxying + storing): "
          f"{cpu_proxy * 1000 / len(proxied):.2f} ms; load average {os.getloadavg()[0]:.1f}"
          f" on {os.cpu_count()} cores (wall-clock figures above include waiting for a CPU)")
    print(f"time to first token over {len(t_direct)} streams (provider waits"
          f" {args.latency * 1000:.0f} ms): direct {td:.2f} ms, through the recorder {tp:.2f} ms"
          f" ({(tp / td - 1) * 100:+.1f}%, target within 5%)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

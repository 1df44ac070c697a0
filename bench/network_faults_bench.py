"""Misbehaving endpoints: how long each fault takes to fail, against the bound it must respect.

Every fault of `tests/fault_server.py` is replayed next to a healthy request with the given
timeouts (small by default, so the run takes seconds). For each fault it prints the wall time
to the failure, the time beyond a healthy one-request replay run the same way (the
reference), the attempts made and the bound on that extra time (two deadlines plus backoff: a
timeout or an incomplete answer is retried once). Then it measures the cost of the checks on the healthy
path: redacting a 1 MB response body against serialising it (`json.dumps`, the reference the
store pays anyway), and the completeness check of a long stream against assembling it.

    python bench/network_faults_bench.py [--total 0.6] [--read 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.formats import format_named  # noqa: E402
from core.keys import Redactor  # noqa: E402
from core.replay.engine import RetryPolicy, Timeouts, run_replay  # noqa: E402
from core.replay.models import ReplaySpec  # noqa: E402
from core.store import Store  # noqa: E402
from tests.fault_server import FaultServer  # noqa: E402
from tests.test_faults import CASES, request  # noqa: E402

RETRY = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.02)


async def time_faults(timeouts: Timeouts) -> None:
    print(f"timeouts: connect {timeouts.connect:g} s, read/idle {timeouts.read:g} s,"
          f" total {timeouts.total:g} s per attempt")
    print(f"{'fault':16} {'status':7} {'attempts':>8} {'seconds':>8} {'beyond ok':>9}"
          f" {'bound':>6}  reason")
    reference = 0.0
    cases = {"warm-up": (False, True, "", 1), "ok": (False, True, "", 1), **CASES}
    with FaultServer() as faults, tempfile.TemporaryDirectory() as tmp:
        for n, (fault, (anthropic, stream, _, _)) in enumerate(cases.items()):
            with Store(Path(tmp) / f"{n}.db") as store:
                store.upsert_requests([
                    request("bad", faults.url("ok" if fault == "warm-up" else fault,
                                              anthropic=anthropic),
                            anthropic=anthropic, stream=stream),
                ])
                spec = ReplaySpec(session_id="s1", mode="isolated", allow_hosts=["127.0.0.1"])
                started = time.perf_counter()
                replay = await run_replay(store, spec, retry=RETRY, timeouts=timeouts)
                wall = time.perf_counter() - started
                result = store.replay_results(replay.id)["bad"]
            if fault == "warm-up":  # imports and first connection, not measured
                continue
            if fault == "ok":
                reference = wall  # a healthy replay of one request: store, plan, one send
            bound = 2 * timeouts.total + 0.1
            print(f"{fault:16} {result.status:7} {result.attempts:>8} {wall:>8.2f}"
                  f" {wall - reference:>9.2f} {bound:>6.2f}  {(result.error or '')[:60]}")


def time_checks() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "word " * 200_000},
                         "finish_reason": "stop"}]}
    text = json.dumps(body)
    scrub = Redactor(["sk-proj-" + "x" * 40, "sk-ant-" + "y" * 40, "custom-key-1234567890"])
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        json.dumps(body)
    reference = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    for _ in range(rounds):
        scrub(body)
    redaction = (time.perf_counter() - started) / rounds
    print(f"\n1 MB body: json.dumps {reference * 1000:.2f} ms (reference),"
          f" redaction of 3 keys {redaction * 1000:.2f} ms"
          f" ({redaction / reference:.2f}x the reference); body {len(text) / 1e6:.1f} MB")

    openai = format_named("openai")
    events = [{"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]} for i in range(20_000)]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    started = time.perf_counter()
    assembler = openai.stream_assembler()
    for event in events:
        assembler.feed(event)
    assembled = assembler.body()
    assemble = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(100):
        assembler.problem()
        openai.response_problem(assembled)
    check = (time.perf_counter() - started) / 100
    print(f"20,000-event stream: assembling {assemble * 1000:.1f} ms (reference),"
          f" completeness and shape checks {check * 1000:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=float, default=0.6)
    parser.add_argument("--read", type=float, default=0.25)
    args = parser.parse_args()
    timeouts = Timeouts(connect=1.0, write=1.0, read=args.read, pool=1.0, total=args.total)
    asyncio.run(time_faults(timeouts))
    time_checks()


if __name__ == "__main__":
    main()

"""Agent replay of a long tool-using session: wall time against the provider's own latency.

    python bench/agent_bench.py [--rounds 50] [--latency 0.02] [--repeat 3]

A recorded agent session of N rounds (N−1 tool calls, then the answer) is replayed against
a loopback server answering after `latency` seconds, in its own process. Every round
depends on the previous one, so the ideal wall time is rounds × latency; the rest is the
engine's work per round (rebuilding the conversation, matching tool calls against the
recording, committing the result). Two cases: the prompt unchanged (every call matched from
the recording) and an edited prompt whose agent takes 5 more rounds than recorded (calls
answered by the default rule, rounds added by the engine). Target: ≤ 1.15× ideal.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.edits import EditSet, SystemEdit  # noqa: E402
from core.replay.engine import make_client, run_replay  # noqa: E402
from core.replay.models import ReplaySpec  # noqa: E402
from core.store import Store  # noqa: E402
from tests.agent_fake import agent_session  # noqa: E402


def steps(n: int) -> str:
    return "You research. STEPS: " + "; ".join(f"search(q{i})" for i in range(n))


async def replay_once(store: Store, spec: ReplaySpec) -> tuple[float, int]:
    client = make_client(spec.concurrency)
    began = time.perf_counter()
    replay = await run_replay(store, spec, client=client, env={})
    wall = time.perf_counter() - began
    await client.aclose()
    assert replay.status == "done", replay.status
    sent = sum(1 for r in store.replay_results(replay.id).values()
               if r.status in ("done", "diverged"))
    return wall, sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.agent_fake", "--latency", str(args.latency)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        requests = agent_session(steps(args.rounds - 1), judge=False)
        edited = EditSet(system=[SystemEdit(target="agent", text=steps(args.rounds + 4))])
        cases = {
            "unchanged (all matched)": ReplaySpec(session_id="s1", via=base_url),
            "edited (+5 added rounds)": ReplaySpec(session_id="s1", via=base_url, edits=edited),
        }
        print(f"{len(requests)}-request agent session, {args.latency * 1000:.0f} ms latency,"
              f" best of {args.repeat}")
        print(f"{'case':26} {'rounds':>6} {'ideal s':>8} {'wall s':>8} {'ratio':>6}"
              f" {'overhead ms/round':>18}")
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "b.db") as store:
            store.upsert_requests(requests)
            for name, spec in cases.items():
                runs = [asyncio.run(replay_once(store, spec)) for _ in range(args.repeat)]
                wall = min(w for w, _ in runs)
                rounds = runs[0][1]
                ideal = rounds * args.latency
                print(f"{name:26} {rounds:>6} {ideal:>8.2f} {wall:>8.2f} {wall / ideal:>6.2f}"
                      f" {1000 * (wall - ideal) / rounds:>18.2f}")
                print(f"{'':26} median wall {statistics.median(w for w, _ in runs):.2f} s")
    finally:
        server.terminate()
        server.wait(timeout=5)


if __name__ == "__main__":
    main()

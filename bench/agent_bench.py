"""Agent replay of a long tool-using session: wall time against the provider's own latency.

    python bench/agent_bench.py [--rounds 50] [--latency 0.02] [--repeat 5]

A recorded agent session of N rounds (N−1 tool calls, then the answer) is replayed against
a lean loopback server (`tests.agent_fake.LeanAgentServer`, in its own process) answering
`latency` seconds after each request arrives. Every round depends on the previous one, so
the ideal wall time is rounds × latency. Two cases: the prompt unchanged (every call matched
from the recording) and an edited prompt whose agent takes 5 more rounds than recorded
(calls answered by the default rule, rounds added by the engine).

Each case is measured against a **reference** in the same run: a bare httpx client (the
engine's own client settings) sending the very bodies the engine sent, one after the other,
to the same server, and reading each answer as JSON. The reference shows what HTTP and
this machine cost by themselves; the engine's overhead is its wall time minus the
reference's, per round. Reference and engine runs alternate, so load drifts hit both.
Target: ≤ 1.15× ideal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.edits import EditSet, SystemEdit  # noqa: E402
from core.replay.agent import ordered_results  # noqa: E402
from core.replay.engine import make_client, run_replay  # noqa: E402
from core.replay.models import ReplaySpec  # noqa: E402
from core.store import Store  # noqa: E402
from tests.agent_fake import agent_session  # noqa: E402

SENT = ("done", "diverged")


def steps(n: int) -> str:
    return "You research. STEPS: " + "; ".join(f"search(q{i})" for i in range(n))


async def replay_once(store: Store, spec: ReplaySpec) -> tuple[float, str]:
    client = make_client(spec.concurrency)
    began = time.perf_counter()
    replay = await run_replay(store, spec, client=client, env={})
    wall = time.perf_counter() - began
    await client.aclose()
    assert replay.status == "done", replay.status
    return wall, replay.id


async def reference_once(url: str, bodies: list[dict[str, Any]]) -> float:
    """The same requests from a bare client: encode, POST, read the JSON answer."""
    client = make_client()
    began = time.perf_counter()
    for body in bodies:
        response = await client.post(url, content=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        response.raise_for_status()
        json.loads(response.content)
    wall = time.perf_counter() - began
    await client.aclose()
    return wall


def sent_bodies(store: Store, replay_id: str, order: list[str]) -> list[dict[str, Any]]:
    results = ordered_results(order, store.replay_results(replay_id))
    return [r.sent_body for r in results if r.status in SENT and r.sent_body is not None]


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.agent_fake", "--latency", str(args.latency)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        requests = agent_session(steps(args.rounds - 1), judge=False)
        order = [r.id for r in requests]
        edited = EditSet(system=[SystemEdit(target="agent", text=steps(args.rounds + 4))])
        cases = {
            "unchanged (all matched)": ReplaySpec(session_id="s1", via=base_url),
            "edited (+5 added rounds)": ReplaySpec(session_id="s1", via=base_url, edits=edited),
        }
        print(f"{len(requests)}-request agent session, {args.latency * 1000:.0f} ms latency,"
              f" {args.repeat} alternating runs each; load average {load()} (1/5/15 min)")
        print(f"{'case':25} {'rounds':>6} {'ideal s':>7} {'':6} {'ref s':>6} {'engine s':>8}"
              f" {'engine/ideal':>12} {'ref/ideal':>9} {'engine−ref ms/round':>20}")
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "b.db") as store:
            store.upsert_requests(requests)
            for name, spec in cases.items():
                _, first = asyncio.run(replay_once(store, spec))  # warm-up; its bodies
                bodies = sent_bodies(store, first, order)
                url = base_url + "/v1/chat/completions"
                refs: list[float] = []
                walls: list[float] = []
                for _ in range(args.repeat):
                    refs.append(asyncio.run(reference_once(url, bodies)))
                    walls.append(asyncio.run(replay_once(store, spec))[0])
                rounds = len(bodies)
                ideal = rounds * args.latency
                for label, pick in (("best", min), ("median", statistics.median)):
                    ref, wall = pick(refs), pick(walls)
                    print(f"{name if label == 'best' else '':25} {rounds:>6} {ideal:>7.2f}"
                          f" {label:6} {ref:>6.3f} {wall:>8.3f} {wall / ideal:>12.2f}"
                          f" {ref / ideal:>9.2f} {1000 * (wall - ref) / rounds:>20.2f}")
        print(f"load average after: {load()}")
    finally:
        server.terminate()
        server.wait(timeout=5)


if __name__ == "__main__":
    main()

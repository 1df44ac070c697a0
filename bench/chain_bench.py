"""Chained replay of one long conversation: every request carries the whole history.

    python bench/chain_bench.py [--turns 300 600 1000]

A conversation of N turns is N requests whose inputs quote every earlier answer, so the
dependency graph has N·(N−1)/2 links and the bodies grow linearly. Prints the planning time
and the engine's own time per request (the loopback server answers at once, in its own
process), to show how cost grows with session length.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.replay.engine import make_client, run_replay  # noqa: E402
from core.replay.models import ReplaySpec  # noqa: E402
from core.replay.plan import plan_replay  # noqa: E402
from core.store import Store  # noqa: E402
from tests.servers import tutor_conversation  # noqa: E402


async def replay(store: Store, base_url: str) -> float:
    spec = ReplaySpec(session_id="long", via=base_url, concurrency=8)
    client = make_client(spec.concurrency)
    began = time.perf_counter()
    replay = await run_replay(store, spec, client=client, env={})
    elapsed = time.perf_counter() - began
    await client.aclose()
    assert replay.status == "done", replay.status
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, nargs="+", default=[100, 300, 600])
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "--latency", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        print(f"{'turns':>6} {'links':>9} {'plan s':>8} {'replay s':>9} {'ms/request':>11}")
        for turns in args.turns:
            requests = tutor_conversation(turns)
            began = time.perf_counter()
            plan = plan_replay(requests, ReplaySpec(session_id="long"))
            planning = time.perf_counter() - began
            links = sum(len(item.depends_on) for item in plan.items)
            with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "b.db") as store:
                store.upsert_requests(requests)
                wall = asyncio.run(replay(store, base_url))
            print(f"{turns:>6} {links:>9,} {planning:>8.2f} {wall:>9.2f} "
                  f"{1000 * wall / turns:>11.1f}")
    finally:
        server.terminate()
        server.wait(timeout=5)


if __name__ == "__main__":
    main()

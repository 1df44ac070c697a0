"""Replay engine benchmark: 200 requests, a dependency graph 20 deep, 50 ms per request.

Ten conversations of twenty turns each; every turn carries the previous turn's output as an
assistant message, so a chained replay must run each conversation in order while the ten
conversations run side by side. The loopback server answers after a fixed latency. Prints the
wall time against the ideal (depth x latency) and against the sequential script
(n x latency), and the engine's own CPU time per request.

    python bench/replay_bench.py [--chains 10] [--depth 20] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core.diff  # noqa: E402,F401  (warm: the app has the diff engine loaded)
from core.edits import EditSet, SystemEdit  # noqa: E402
from core.replay.engine import make_client, run_replay  # noqa: E402
from core.replay.models import ReplaySpec  # noqa: E402
from core.replay.plan import plan_replay  # noqa: E402
from core.store import Store  # noqa: E402
from tests.servers import default_reply, recorded_request  # noqa: E402


def build_session(store: Store, chains: int, depth: int) -> None:
    requests = []
    for c in range(chains):
        system = f"You are conversation number {c}."
        previous = None
        for k in range(depth):
            messages = [{"role": "system", "content": system}]
            if previous is not None:
                messages += [{"role": "user", "content": f"chain {c} turn {k - 1}"},
                             {"role": "assistant", "content": previous}]
            messages.append({"role": "user", "content": f"chain {c} turn {k}"})
            body = {"model": "gpt-4o-mini", "messages": messages}
            previous = default_reply(body)
            requests.append(recorded_request(f"c{c:02d}k{k:02d}", body, previous,
                                             session_id="bench", prompt_id=f"chain-{c}",
                                             at=k * chains + c))
    store.upsert_requests(requests)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", type=int, default=10)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "--latency", str(args.latency)],
        cwd=root, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    try:
        await _run(args, base_url)
    finally:
        server.kill()
        server.wait()


async def _run(args: argparse.Namespace, base_url: str) -> None:
    n = args.chains * args.depth
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        build_session(store, args.chains, args.depth)
        edits = EditSet(system=[SystemEdit(target=f"chain-{c}", text=f"Be brief, {c}.")
                                for c in range(args.chains)])
        spec = ReplaySpec(session_id="bench", edits=edits, via=base_url,
                          concurrency=args.concurrency or args.chains)
        plan = plan_replay(store.session_requests("bench", bodies=True), spec)
        depth = plan.depth()
        # The shared client is created once per app (its TLS context costs ~20 ms), as the TUI
        # does; everything else (loading, planning, store writes, sends) is timed.
        client = make_client(spec.concurrency)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        replay = await run_replay(store, spec, client=client)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        await client.aclose()
        results = store.replay_results(replay.id)
        substituted = sum(
            1 for r in results.values()
            if r.sent_body and any("Be brief" in str(m.get("content"))
                                   for m in r.sent_body["messages"] if m["role"] == "assistant")
        )
        store.close()
    ideal = depth * args.latency
    sequential = n * args.latency
    print(f"requests            {n} (graph depth {depth}, concurrency {spec.concurrency})")
    print(f"status              {replay.status}, {substituted} bodies carried replayed outputs")
    print(f"wall                {wall:.3f} s")
    print(f"ideal (depth x lat) {ideal:.3f} s   ratio {wall / ideal:.3f}x (target <= 1.15x)")
    print(f"sequential (n x lat){sequential:.3f} s   speed-up {sequential / wall:.1f}x")
    print(f"overhead per level  {(wall - ideal) / depth * 1000:.2f} ms"
          f"   engine+client CPU per request {cpu / n * 1000:.2f} ms (target < 2 ms)")


if __name__ == "__main__":
    asyncio.run(main())

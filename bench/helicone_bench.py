"""Benchmark of `reprise pull` against a fake Helicone on loopback with per-call latency.

It serves 5,000 requests across 100 sessions (half of them S3 rows whose bodies need a
signed-URL fetch) with 30 ms added to every HTTP call, pulls everything into a fresh store
and prints the wall time next to what the same calls would cost one at a time. The fake
Helicone runs in its own process, as the real one would, so it does not share our CPU time.

Run: ``python bench/helicone_bench.py [--sessions 100] [--per-session 50] [--latency-ms 30]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.sources.helicone import HeliconeClient, HeliconeConfig, PullReport, pull  # noqa: E402
from core.store import Store  # noqa: E402
from tests.helicone_server import FakeHelicone  # noqa: E402


def _serve(args: argparse.Namespace, out: Any, control: Any) -> None:
    """Child process: build the data, serve it, report call counts when told to stop."""
    with FakeHelicone(latency_s=args.latency_ms / 1000) as fake:
        start = datetime.now(UTC) - timedelta(hours=6)
        for n in range(args.sessions):
            fake.add_session(
                f"bench-{n:04d}",
                args.per_session,
                s3_every=args.s3_every,
                start=start + timedelta(minutes=n),
            )
        out.put((fake.url, fake.api_key))
        control.get()
        out.put(
            {
                "api": len(fake.recorded),
                "storage": len(fake.storage.recorded),
                "peak": fake.max_in_flight + fake.storage.max_in_flight,
            }
        )


async def _pull(
    url: str, key: str, store: Store, args: argparse.Namespace
) -> tuple[float, PullReport]:
    config = HeliconeConfig.from_env(
        key,
        base_url=url,
        session_concurrency=args.session_concurrency,
        body_concurrency=args.body_concurrency,
    )
    async with HeliconeClient(config) as client:
        started = time.perf_counter()
        report = await pull(store, client, since=datetime.now(UTC) - timedelta(days=1))
        return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--per-session", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--s3-every", type=int, default=2, help="every Nth row is an S3 row")
    parser.add_argument("--session-concurrency", type=int, default=8)
    parser.add_argument("--body-concurrency", type=int, default=16)
    args = parser.parse_args()

    out: Any = multiprocessing.Queue()
    control: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(args, out, control), daemon=True)
    server.start()
    try:
        url, key = out.get(timeout=60)
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:
            elapsed, report = asyncio.run(_pull(url, key, store, args))
            stored = sum(s.requests for s in store.list_sessions())
        control.put("stop")
        stats = out.get(timeout=30)
    finally:
        server.join(timeout=5)
        if server.is_alive():
            server.kill()

    calls = stats["api"] + stats["storage"]
    serial = calls * args.latency_ms / 1000
    print(
        f"sessions={report.sessions} requests={report.requests} stored={stored}"
        f" bodies_fetched={report.bodies_fetched} errors={len(report.errors)}"
    )
    print(
        f"calls: api={stats['api']} storage={stats['storage']}  latency={args.latency_ms:g} ms/call"
        f"  concurrency: sessions={args.session_concurrency} bodies={args.body_concurrency}"
        f"  peak in flight={stats['peak']}"
    )
    print(f"pull time: {elapsed:.2f} s  (the same calls one at a time: >= {serial:.1f} s)")


if __name__ == "__main__":
    main()

"""Store benchmark: import 100,000 requests in 10,000 sessions, list sessions, open a big one.

    python bench/store_bench.py [--sessions 10000] [--requests 100000]

Prints import rate, the time to list (first page and all) and filter sessions, and the time
to open a 2,000-request session (rows without bodies, then its tree).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.models import LoggedRequest  # noqa: E402
from core.store import Store  # noqa: E402
from core.tree import build_tree  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic(sessions: int, total: int, big: int = 2000):
    """`big` requests in session 0, the rest spread evenly over the other sessions."""
    others = max(1, sessions - 1)
    per_session, extra = divmod(total - big, others)
    for s in range(sessions):
        count = big if s == 0 else per_session + (1 if s <= extra else 0)
        for i in range(count):
            start = T0 + timedelta(minutes=s * 7, seconds=i * 2)
            body = {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "You summarize support tickets."},
                    {"role": "user", "content": f"Ticket {s}-{i}: the export button fails."},
                ],
            }
            response = {
                "choices": [
                    {"message": {"role": "assistant", "content": f"Export fails ({s}-{i})."}}
                ]
            }
            yield LoggedRequest(
                id=f"req-{s:05d}-{i:04d}",
                created_at=start,
                response_at=start + timedelta(milliseconds=800),
                session_id=f"session-{s:05d}",
                session_name=f"Support {s % 50}",
                session_path=f"/ticket/step-{i % 5}",
                prompt_id="summarize",
                provider="OPENAI",
                model="gpt-4o-mini",
                status=200,
                latency_ms=800,
                total_tokens=60,
                cost=0.00002,
                request_body=body,
                response_body=response,
            )


def timed(fn, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        rows = list(synthetic(args.sessions, args.requests))
        began = time.perf_counter()
        for offset in range(0, len(rows), 10_000):
            store.upsert_requests(rows[offset : offset + 10_000])
        elapsed = time.perf_counter() - began
        print(
            f"import: {len(rows):,} requests in {args.sessions:,} sessions in {elapsed:.2f} s"
            f" ({len(rows) / elapsed:,.0f} requests/s)"
        )
        size = (Path(tmp) / "bench.db").stat().st_size
        print(f"store size: {size / 1e6:.1f} MB")
        print(f"sessions: first page of 50: {timed(lambda: store.list_sessions(limit=50)):.2f} ms")
        print(f"sessions: all {args.sessions:,}: {timed(lambda: store.list_sessions()):.1f} ms")
        print(f"sessions: count: {timed(lambda: store.count_sessions()):.2f} ms")
        print(
            "sessions: filter 'support 4' + count + first page: "
            f"{timed(lambda: (store.count_sessions('support 4'), store.list_sessions('support 4', limit=50))):.2f} ms"
        )
        print(
            "sessions: sort by cost, first page: "
            f"{timed(lambda: store.list_sessions(sort='cost', limit=50)):.2f} ms"
        )
        big = "session-00000"
        print(
            f"open 2,000-request session (rows, no bodies): "
            f"{timed(lambda: store.session_requests(big)):.1f} ms"
        )
        requests = store.session_requests(big)
        print(f"build its tree: {timed(lambda: build_tree(requests)):.1f} ms")
        print(
            f"open one request with bodies: "
            f"{timed(lambda: store.get_request('req-00000-1999')):.2f} ms"
        )
        print(
            f"re-import the 2,000-request session (idempotent): "
            f"{timed(lambda: store.upsert_requests(rows[:2000]), repeat=3):.0f} ms"
        )
        store.close()


if __name__ == "__main__":
    main()

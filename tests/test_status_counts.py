"""One definition of "failed": the replays list, the report and the matrix count alike."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from core.matrix import MatrixSpec, create_matrix, matrix_table, set_cell_run
from core.replay.engine import RetryPolicy, run_replay
from core.replay.models import FAILED, FINAL, KEPT_ON_RESUME, SUCCEEDED, ReplayEvent
from core.report import build_report
from core.store import Store
from tests.servers import FakeProvider, default_reply
from tests.test_replay_engine import debate_session, genius_spec

FAST = RetryPolicy(max_attempts=1, base_s=0.0, cap_s=0.0)


def test_groups_partition_the_statuses() -> None:
    assert SUCCEEDED.isdisjoint(FAILED)
    assert set(FINAL) == SUCCEEDED | FAILED | {"skipped", "cancelled", "not_reached"}
    assert "cancelled" not in KEPT_ON_RESUME and KEPT_ON_RESUME < FINAL


async def test_replays_list_report_and_matrix_agree(tmp_path: Path) -> None:
    def slow_unrelated(body: dict[str, Any]) -> str:
        if "Unrelated" in json.dumps(body):
            time.sleep(1.5)  # still in flight when the replay is cancelled
        return default_reply(body)

    with Store(tmp_path / "counts.db") as store, FakeProvider(reply=slow_unrelated) as server:
        debate_session(store)
        server.fail_if(lambda b: "Argue" in json.dumps(b), status=400)
        settled: set[str] = set()
        events: list[ReplayEvent] = []

        def on_event(event: ReplayEvent) -> None:
            events.append(event)
            if event.kind in ("failed", "blocked"):
                settled.add(event.request_id or "")

        task = asyncio.create_task(
            run_replay(store, genius_spec(server, concurrency=4), on_event=on_event, retry=FAST)
        )
        for _ in range(200):
            if settled >= {"r1", "r2", "r3"}:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        replay_id = events[0].replay_id

        results = store.replay_results(replay_id)
        assert sorted(r.status for r in results.values()) == [
            "blocked", "blocked", "cancelled", "failed"]

        listed = next(r for r in store.list_replays("s1") if r.id == replay_id)
        report = build_report(store, replay_id)
        matrix = create_matrix(store, MatrixSpec(session_ids=["s1"]))
        set_cell_run(store, matrix.id, matrix.runs[0], replay_id=replay_id, status="done")
        (row,) = (await matrix_table(store, matrix.id)).rows

        # A request cancelled in flight did not fail: 1 failed + 2 blocked, everywhere.
        assert listed.failed == report.stats.failed == row.failed == 3
        assert listed.done == report.stats.replayed == 0

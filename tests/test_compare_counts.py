"""The diff screen's counts: what was replayed and what changed, as a newcomer reads them."""

from __future__ import annotations

from pathlib import Path

from core.compare import load_comparison
from core.demo import demo_store_copy
from core.replay.models import ReplayResult, ReplaySpec
from core.store import Store

TRIP = "24b0dd9f-fc5d-562d-b44d-d1043403cc95"


def test_rounds_not_reached_are_not_replayed_and_changed_tool_calls_count(tmp_path: Path) -> None:
    store = Store(demo_store_copy(tmp_path))
    try:
        first, second, third, judge = (r.id for r in store.session_requests(TRIP))
        replay = store.create_replay(ReplaySpec(session_id=TRIP, via="local"))
        # The first round called another tool with the same (empty) text: it changed.
        store.save_result(replay.id, ReplayResult(request_id=first, status="done",
                                                  similarity=1.0, tool_calls_changed=True))
        for rid in (second, third):
            store.save_result(replay.id, ReplayResult(request_id=rid, status="not_reached"))
        store.save_result(replay.id, ReplayResult(request_id=judge, status="done",
                                                  output_text="x", similarity=1.0))
        comparison = load_comparison(store, TRIP, replay.id, [])
        assert comparison.replayed == 2
        assert comparison.changed == {first, second, third}
    finally:
        store.close()

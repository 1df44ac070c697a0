"""The store's replay section: create, save results, finish, list, read back."""

from __future__ import annotations

from datetime import UTC, datetime

from core.edits import EditSet, SystemEdit
from core.replay.models import ReplayResult, ReplaySpec
from core.store import Store


def test_replay_roundtrip(tmp_path):
    store = Store(tmp_path / "r.db")
    edits = EditSet(system=[SystemEdit(target="p", text="be brief")])
    spec = ReplaySpec(session_id="s1", edits=edits, mode="isolated", allow_hosts=["x"])
    replay = store.create_replay(spec)
    assert store.get_replay(replay.id).spec == spec
    result = ReplayResult(request_id="r1", status="done", output_text="hi",
                          finished_at=datetime.now(UTC), depends_on=["r0"])
    store.save_result(replay.id, result)
    store.save_result(replay.id, ReplayResult(request_id="r2", status="failed", error="boom"))
    store.save_result(replay.id, result.model_copy(update={"output_text": "again"}))
    results = store.replay_results(replay.id)
    assert list(results) == ["r1", "r2"]
    assert results["r1"].output_text == "again"
    assert results["r1"].depends_on == ["r0"]
    store.finish_replay(replay.id, "failed")
    got = store.get_replay(replay.id)
    assert got.status == "failed" and got.finished_at is not None
    assert (got.total, got.failed, got.done) == (2, 1, 1)
    other = store.create_replay(ReplaySpec(session_id="s2"))
    assert [r.id for r in store.list_replays("s1")] == [replay.id]
    assert {r.id for r in store.list_replays()} == {replay.id, other.id}
    assert store.get_replay("nope") is None
    assert store.get_session("s1") is None  # replays never invent sessions

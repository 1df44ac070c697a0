"""What the app reads off the UI thread: the first sessions (peek) and an opened session."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from core.replay.models import ReplayResult, ReplaySpec
from core.session_view import load_session_view
from core.store import Store
from core.store.peek import Peek
from tests.conftest import DEBATE_SESSION


def test_peek_lists_what_the_store_lists(fixture_store: Store) -> None:
    peek = Peek.open(fixture_store.path)
    assert peek is not None
    try:
        for search, sort, descending in (("", "started_at", True), ("debate", "name", False),
                                         ("", "requests", True), ("no session", "cost", False)):
            want = fixture_store.list_sessions(search, limit=5, sort=sort, descending=descending)
            got = peek.list_sessions(search, limit=5, sort=sort, descending=descending)
            assert [(s.id, s.name, s.requests, s.duration_s, s.sessionless) for s in got] == [
                (s.id, s.name, s.requests, s.duration_s, s.sessionless) for s in want]
            assert peek.count_sessions(search) == fixture_store.count_sessions(search)
    finally:
        peek.close()


def test_peek_leaves_unusual_files_to_the_store(tmp_path: Path) -> None:
    assert Peek.open(tmp_path / "missing.db") is None
    (tmp_path / "text.db").write_text("not a database")
    assert Peek.open(tmp_path / "text.db") is None
    foreign = sqlite3.connect(tmp_path / "foreign.db")
    foreign.execute("CREATE TABLE sessions (id TEXT)")
    foreign.commit()
    foreign.close()
    assert Peek.open(tmp_path / "foreign.db") is None  # not ours: the store says why
    assert not (tmp_path / "missing.db").exists()  # and nothing was created


def test_session_view_reads_requests_tree_names_and_the_own_replay(fixture_store: Store) -> None:
    view = load_session_view(fixture_store, DEBATE_SESSION)
    assert view.requests and view.summary is not None
    assert view.tree.count == len(view.requests)
    assert set(view.labels) == {r.id for r in view.requests}
    assert view.current is None

    own = fixture_store.create_replay(ReplaySpec(session_id=DEBATE_SESSION))
    first = view.requests[0].id
    fixture_store.save_result(own.id, ReplayResult(request_id=first, status="done",
                                                   finished_at=datetime.now(UTC)))
    cell = fixture_store.create_replay(ReplaySpec(session_id=DEBATE_SESSION))
    fixture_store.create_matrix("m1", "{}", datetime.now(UTC), [("k", DEBATE_SESSION)])
    fixture_store.update_matrix_run("m1", "k", DEBATE_SESSION, cell.id, "done", None)

    view = load_session_view(fixture_store, DEBATE_SESSION)
    assert view.current is not None
    assert view.current.replay.id == own.id  # a matrix cell's newer replay never takes its place
    assert list(view.current.results) == [first]
    assert load_session_view(fixture_store, DEBATE_SESSION, with_replay=False).current is None

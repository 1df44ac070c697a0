"""The store owns every table: a fresh store has them all, an older one gains them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.store import MIGRATIONS, SCHEMA_VERSION, Store

EVERY_TABLE = {"requests", "sessions", "replays", "replay_results", "judge_cache",
               "replay_scorers", "matrices", "matrix_cells"}


def test_fresh_store_has_every_table_right_after_open(tmp_path: Path) -> None:
    with Store(tmp_path / "fresh.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.tables() >= EVERY_TABLE
        # Nothing else creates tables on first use: reading them works at once.
        assert store.matrix_ids() == [] and store.cached_judgement("k") is None
        assert store.replay_scorers("r") is None


def test_v2_store_with_tables_made_on_first_use_migrates(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    for version in (1, 2):
        for statement in MIGRATIONS[version].split(";"):
            if statement.strip():
                db.execute(statement)
    # What an older reprise created lazily, holding a cached judgement.
    db.execute("CREATE TABLE judge_cache (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
               " reply TEXT NOT NULL, score REAL, created_at TEXT NOT NULL)")
    db.execute("INSERT INTO judge_cache VALUES ('k', 'm', 'Score: 7', 7.0, 'now')")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.tables() >= EVERY_TABLE
        assert store.cached_judgement("k") == ("Score: 7", 7.0)


def test_no_module_but_the_store_speaks_sql() -> None:
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for path in [*(root / "core").rglob("*.py"), *(root / "tui").rglob("*.py"),
                 *(root / "scripts").rglob("*.py")]:
        if path.name == "store.py" or "store" in path.relative_to(root).parts[1:2]:
            continue
        text = path.read_text(encoding="utf-8")
        if ".execute(" in text or "CREATE TABLE" in text:
            offenders.append(str(path.relative_to(root)))
    assert offenders == []


def _request(rid: str, session: str | None, cost: float | None, minute: int) -> tuple:
    return (rid, session, f"2025-03-14T17:{minute:02d}:00Z", cost)


def test_v4_store_keeps_its_sessions_and_recomputes_unknown_costs(tmp_path: Path) -> None:
    """Before v5 a session with no cost read $0; after, its cost is unknown (NULL), and a
    session where only some requests have a cost keeps the known sum."""
    path = tmp_path / "v4.db"
    db = sqlite3.connect(path)
    for version in (1, 2, 3, 4):
        for statement in MIGRATIONS[version].split(";"):
            if statement.strip():
                db.execute(statement)
    rows = [
        _request("a1", "s-paid", 0.25, 1), _request("a2", "s-paid", 0.5, 2),
        _request("b1", "s-some", 0.125, 3), _request("b2", "s-some", None, 4),
        _request("c1", "s-none", None, 5), _request("c2", "s-none", None, 6),
        _request("lone", None, None, 7),
    ]
    db.executemany("INSERT INTO requests (id, session_id, created_at, cost) VALUES (?,?,?,?)",
                   rows)
    for sid, count, cost, minute in (("s-paid", 2, 0.75, 1), ("s-some", 2, 0.125, 3),
                                     ("s-none", 2, 0.0, 5), ("lone", 1, 0.0, 7)):
        db.execute(
            "INSERT INTO sessions (id, name, started_at, ended_at, requests, cost, source)"
            " VALUES (?, ?, ?, ?, ?, ?, 'langfuse')",
            (sid, f"name {sid}", f"2025-03-14T17:{minute:02d}:00Z",
             f"2025-03-14T17:{minute + 1:02d}:00Z", count, cost),
        )
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        sessions = {s.id: s for s in store.list_sessions()}
        assert {s: sessions[s].cost for s in sessions} == {
            "s-paid": 0.75, "s-some": 0.125, "s-none": None, "lone": None}
        assert sessions["s-none"].name == "name s-none" and sessions["s-none"].requests == 2
        assert {s.source for s in sessions.values()} == {"langfuse"}
        assert sessions["lone"].sessionless
        # Unknown costs sort last whichever the direction.
        down = [s.id for s in store.list_sessions(sort="cost")]
        up = [s.id for s in store.list_sessions(sort="cost", descending=False)]
        assert down[:2] == ["s-paid", "s-some"] and up[:2] == ["s-some", "s-paid"]
        assert set(down[2:]) == set(up[2:]) == {"s-none", "lone"}
        assert store.tables() >= EVERY_TABLE

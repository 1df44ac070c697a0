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

"""The first rows of the sessions list, read with plain sqlite3 before the models load.

Opening the app must show sessions about as fast as Textual paints its first frame. The full
`Store` (pydantic models, integrity check, migrations) opens in a thread after that paint;
until then the sessions list reads through a `Peek`: a read-only connection, used only when
the file's header says it is a reprise store of exactly this schema, answering the same two
queries as the store (`sessions_query`) with plain rows. Anything unusual (no file, another
schema, a damaged header, any SQLite error) returns nothing and the store says why later.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.parsing import parse_time
from core.store.schema import _SQLITE_MAGIC, APPLICATION_ID, SCHEMA_VERSION
from core.store.sessions import count_query, search_clause, sessions_query


@dataclass(frozen=True)
class SessionRow:
    """A sessions-list row with the fields of `core.models.SessionSummary` it shows."""

    id: str
    name: str
    started_at: datetime
    ended_at: datetime
    requests: int
    cost: float | None = None  # None: no request of the session has a cost
    total_tokens: int = 0
    replays: int = 0
    models: list[str] = field(default_factory=list)
    source: str = "local"
    sessionless: bool = False

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


class Peek:
    """Read-only answers to the sessions list until the store is open."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path) -> Peek | None:
        """A peek at `path`, or None when only the full store may read it."""
        try:
            with path.open("rb") as handle:
                if handle.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                    return None
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                 check_same_thread=False, timeout=0.05)
        except (OSError, ValueError, sqlite3.Error):
            return None
        try:  # read through the write-ahead log: the file's own header may lag behind it
            version = db.execute("PRAGMA user_version").fetchone()[0]
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.Error:
            version = app_id = None
        if (version, app_id) != (SCHEMA_VERSION, APPLICATION_ID):
            db.close()
            return None
        db.row_factory = sqlite3.Row
        return cls(db)

    def count_sessions(self, search: str | None = None) -> int:
        where, params = search_clause(search)
        try:
            return int(self._db.execute(count_query(where), params).fetchone()[0])
        except sqlite3.Error:
            return 0

    def list_sessions(self, search: str | None = None, *, limit: int | None = None,
                      offset: int = 0, sort: str = "started_at",
                      descending: bool = True) -> list[SessionRow]:
        sql, params = sessions_query(search, limit, offset, sort, descending)
        try:
            rows = self._db.execute(sql, params).fetchall()
            return [_row(row) for row in rows]
        except (sqlite3.Error, ValueError, TypeError, AttributeError):
            return []

    def close(self) -> None:
        self._db.close()


def _row(row: sqlite3.Row) -> SessionRow:
    started = parse_time(row["started_at"])
    ended = parse_time(row["ended_at"])
    if started is None or ended is None:
        raise ValueError("a session without times")
    return SessionRow(
        id=row["id"], name=row["name"], started_at=started, ended_at=ended,
        requests=row["requests"], cost=row["cost"], total_tokens=row["total_tokens"],
        replays=row["replays"], models=[m for m in row["models"].split(",") if m],
        source=row["source"], sessionless=bool(row["sessionless"]),
    )

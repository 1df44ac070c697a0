"""The sessions table: an aggregate of the requests, refreshed for the sessions an import
touches, so listing and filtering 10,000 sessions is one indexed query."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.parsing import parse_time
from core.store.base import Connection

if TYPE_CHECKING:
    from core.models import LoggedRequest, SessionSummary

SORT_COLUMNS = {
    "started_at": "started_at",
    "name": "name COLLATE NOCASE",
    "id": "id",
    "requests": "requests",
    "duration": "(julianday(ended_at) - julianday(started_at))",
    "cost": "cost",
    "replays": "(SELECT COUNT(*) FROM replays r WHERE r.session_id = sessions.id)",
}

# Sort columns that may be NULL (unknown): those rows come last whichever the direction.
NULLS_LAST = {"cost"}

# A session row standing for one request logged without a session id (a primary-key lookup).
SESSIONLESS = (
    "EXISTS (SELECT 1 FROM requests q WHERE q.id = sessions.id AND q.session_id IS NULL)"
)

SESSION_COLUMNS = (
    "id, name, started_at, ended_at, requests, cost, total_tokens, models, source,"
    " (SELECT COUNT(*) FROM replays r WHERE r.session_id = sessions.id) AS replays,"
    f" {SESSIONLESS} AS sessionless"
)


class SessionsTable(Connection):
    """Reads of the sessions aggregate (imports refresh it: `refresh_sessions`)."""

    def list_sessions(
        self,
        search: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "started_at",
        descending: bool = True,
    ) -> list[SessionSummary]:
        """Sessions newest first (or by `sort`), narrowed by a case-insensitive search."""
        sql, params = sessions_query(search, limit, offset, sort, descending)
        with self._lock, self.faults():
            rows = self._db.execute(sql, params).fetchall()
        return [_session_from_row(row) for row in rows]

    def count_sessions(self, search: str | None = None) -> int:
        where, params = search_clause(search)
        with self._lock, self.faults():
            return self._db.execute(count_query(where), params).fetchone()[0]

    def session_ids_starting(self, prefix: str, limit: int = 4) -> list[str]:
        """Session ids (sessionless requests included) starting with `prefix`: the short ids
        the app and the CLI print resolve to the full one."""
        with self._lock, self.faults():
            rows = self._db.execute(
                "SELECT id FROM sessions WHERE id >= ?1 AND id < ?1 || char(1114111)"
                " ORDER BY id LIMIT ?2", (prefix, limit)).fetchall()
        return [row[0] for row in rows]

    def get_session(self, session_id: str) -> SessionSummary | None:
        with self._lock, self.faults():
            row = self._db.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
        return None if row is None else _session_from_row(row)


def refresh_sessions(
    db: sqlite3.Connection, session_ids: set[str], source: str | None = None
) -> None:
    """Recompute the aggregate rows of the sessions an import touched."""
    for session_id in session_ids:
        agg = db.execute(
            "SELECT MIN(created_at), MAX(COALESCE(response_at, created_at)), COUNT(*),"
            # TOTAL, not SUM: a sum past 64 bits must not abort the import; NULL (unknown,
            # not $0) when no request has a cost.
            " CASE WHEN COUNT(cost) THEN TOTAL(cost) END, CAST(MIN(TOTAL(total_tokens), 9.2e18) AS INTEGER),"
            " GROUP_CONCAT(DISTINCT model), GROUP_CONCAT(DISTINCT session_path),"
            " (SELECT session_name FROM requests WHERE session_id = ?1 AND session_name != ''"
            "  ORDER BY created_at LIMIT 1)"
            " FROM requests WHERE session_id = ?1",
            (session_id,),
        ).fetchone()
        if not agg[2]:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            continue
        started, ended, count, cost, tokens, models, paths, name = agg
        models = ",".join(sorted(set((models or "").split(",")) - {""}))
        search = " ".join([session_id, name or "", paths or "", models]).lower()
        db.execute(
            "INSERT INTO sessions (id, name, started_at, ended_at, requests, cost,"
            " total_tokens, models, search, source)"
            " VALUES (?,?,?,?,?,?,?,?,?,COALESCE(?, 'local'))"
            " ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
            " source=COALESCE(?, sessions.source),"
            " started_at=excluded.started_at, ended_at=excluded.ended_at,"
            " requests=excluded.requests, cost=excluded.cost,"
            " total_tokens=excluded.total_tokens, models=excluded.models,"
            " search=excluded.search",
            (
                session_id,
                name or "",
                started,
                ended,
                count,
                cost,
                tokens,
                models,
                search,
                source,
                source,
            ),
        )


def refresh_lone(
    db: sqlite3.Connection, requests: dict[str, LoggedRequest], source: str | None
) -> None:
    """One session row per request logged without a session id, keyed by the request id.

    Its name is the logged session name when there is one, else what the request asked
    (`core.formats.request_label`); its search text says `no session` so a filter finds
    them all.
    """
    from core.formats import request_label

    for request_id, request in requests.items():
        row = db.execute(
            "SELECT created_at, COALESCE(response_at, created_at), cost,"
            " COALESCE(total_tokens, 0), model, session_name, session_path, meta"
            " FROM requests WHERE id = ? AND session_id IS NULL",
            (request_id,),
        ).fetchone()
        if row is None:
            continue
        started, ended, cost, tokens, model, name, path, meta = row
        name = name or request_label(request)
        user = json.loads(meta or "{}").get("user_id") or ""
        search = " ".join(
            ["no session", request_id, name, path or "", model, str(user)]
        ).lower()
        db.execute(
            "INSERT INTO sessions (id, name, started_at, ended_at, requests, cost,"
            " total_tokens, models, search, source)"
            " VALUES (?,?,?,?,1,?,?,?,?,COALESCE(?, 'local'))"
            " ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
            " source=COALESCE(?, sessions.source), started_at=excluded.started_at,"
            " ended_at=excluded.ended_at, requests=1, cost=excluded.cost,"
            " total_tokens=excluded.total_tokens, models=excluded.models,"
            " search=excluded.search",
            (request_id, name, started, ended, cost, tokens, model, search, source, source),
        )


def sessions_query(
    search: str | None, limit: int | None, offset: int, sort: str, descending: bool
) -> tuple[str, list[Any]]:
    """The one query of a page of the sessions list (the store and `peek` both run it)."""
    where, params = search_clause(search)
    order = SORT_COLUMNS.get(sort, "started_at")
    direction = "DESC" if descending else "ASC"
    nulls = " NULLS LAST" if sort in NULLS_LAST else ""  # unknown: last in either direction
    sql = (f"SELECT {SESSION_COLUMNS} FROM sessions {where}"
           f" ORDER BY {order} {direction}{nulls}, id {direction}")
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params = [*params, limit, offset]
    return sql, params


def count_query(where: str) -> str:
    return f"SELECT COUNT(*) FROM sessions {where}"


def search_clause(search: str | None) -> tuple[str, list[Any]]:
    if not search or not search.strip():
        return "", []
    terms = search.lower().split()
    clauses = " AND ".join("instr(search, ?) > 0" for _ in terms)
    return f"WHERE {clauses}", terms


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _session_from_row(row: sqlite3.Row) -> SessionSummary:
    from core.models import SessionSummary

    return SessionSummary.model_construct(
        id=row["id"],
        name=row["name"],
        started_at=parse_time(row["started_at"]) or _EPOCH,  # NOT NULL in the schema
        ended_at=parse_time(row["ended_at"]) or _EPOCH,
        requests=row["requests"],
        cost=row["cost"],
        total_tokens=row["total_tokens"],
        replays=row["replays"],
        models=[m for m in row["models"].split(",") if m],
        source=row["source"],
        sessionless=bool(row["sessionless"]),
    )


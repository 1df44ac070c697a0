"""The local SQLite store: the only module that speaks SQL.

One file, WAL mode, schema versioned with `PRAGMA user_version`. Sessions are kept as an
aggregate table refreshed on every import so listing 10,000 sessions is one indexed query;
bodies are stored as JSON text and parsed only when a request is opened.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.models import LoggedRequest, SessionSummary
from core.parsing import format_time, parse_time

if TYPE_CHECKING:
    from core.replay.models import Replay, ReplayResult, ReplaySpec

SCHEMA_VERSION = 2

_SCHEMA_V1 = """
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    session_id TEXT,
    created_at TEXT NOT NULL,
    response_at TEXT,
    session_name TEXT NOT NULL DEFAULT '',
    session_path TEXT NOT NULL DEFAULT '/',
    prompt_id TEXT,
    provider TEXT NOT NULL DEFAULT 'unknown',
    model TEXT NOT NULL DEFAULT 'unknown',
    target_url TEXT,
    request_url TEXT,
    status INTEGER,
    latency_ms REAL,
    ttft_ms REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost REAL,
    body_state TEXT NOT NULL DEFAULT 'full',
    meta TEXT NOT NULL DEFAULT '{}',
    request_body TEXT,
    response_body TEXT,
    version TEXT NOT NULL DEFAULT ''
);
CREATE INDEX requests_by_session ON requests (session_id, created_at);
CREATE INDEX requests_by_prompt ON requests (prompt_id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    requests INTEGER NOT NULL,
    cost REAL NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    models TEXT NOT NULL DEFAULT '',
    search TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'local'
);
CREATE INDEX sessions_by_start ON sessions (started_at DESC);

CREATE TABLE replays (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    spec TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX replays_by_session ON replays (session_id, created_at);

CREATE TABLE replay_results (
    replay_id TEXT NOT NULL REFERENCES replays(id) ON DELETE CASCADE,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    finished_at TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (replay_id, request_id)
);
"""

# v2: the process running a replay, so a replay whose process died shows as interrupted.
_SCHEMA_V2 = "ALTER TABLE replays ADD COLUMN owner_pid INTEGER"

MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2}

_REQUEST_COLUMNS = (
    "id, session_id, created_at, response_at, session_name, session_path, prompt_id, provider,"
    " model, target_url, request_url, status, latency_ms, ttft_ms, prompt_tokens,"
    " completion_tokens, total_tokens, cost, body_state, meta"
)

SORT_COLUMNS = {
    "started_at": "started_at",
    "name": "name COLLATE NOCASE",
    "id": "id",
    "requests": "requests",
    "duration": "(julianday(ended_at) - julianday(started_at))",
    "cost": "cost",
    "replays": "(SELECT COUNT(*) FROM replays r WHERE r.session_id = sessions.id)",
}


class ImportCounts(BaseModel):
    imported: int = 0
    updated: int = 0
    unchanged: int = 0  # the same row again, byte for byte: nothing written
    skipped: int = 0
    errors: list[str] = Field(default_factory=list)

    def add(self, other: ImportCounts) -> None:
        self.imported += other.imported
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.errors.extend(other.errors)


def default_db_path() -> Path:
    """The user's store: `$REPRISE_DB`, else the platform data directory."""
    env = os.environ.get("REPRISE_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("reprise", appauthor=False) / "reprise.db"


class Store:
    """A handle on one SQLite store. Safe to share between the UI thread and workers."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Create the file 0600 before SQLite does: bodies can hold private data.
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes: an import never leaves the store half-written."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer reprise (schema {version});"
                    " upgrade reprise to open it"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                with self.transaction() as db:
                    for statement in _split_sql(MIGRATIONS[target]):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {target}")

    # -- requests --------------------------------------------------------------------------
    def upsert_requests(
        self, requests: Iterable[LoggedRequest], *, source: str | None = None
    ) -> ImportCounts:
        """Insert or update requests in one transaction; a request id is kept once.

        The newer version of a row wins; a full body is never replaced by a preview.
        `source` labels the sessions touched (e.g. "helicone" for pulled ones).
        """
        counts = ImportCounts()
        touched: set[str] = set()
        lone: dict[str, LoggedRequest] = {}  # requests without a session: listed on their own
        with self.transaction() as db:
            for request in requests:
                row = _request_row(request)
                existing = db.execute(
                    f"SELECT {_REQUEST_COLUMNS}, request_body, response_body, version"
                    " FROM requests WHERE id = ?",
                    (request.id,),
                ).fetchone()
                if existing is not None and tuple(existing) == row:
                    counts.unchanged += 1
                    continue
                if not request.session_id and not (existing and existing["session_id"]):
                    lone[request.id] = request
                elif request.session_id:
                    lone.pop(request.id, None)
                    db.execute(
                        "DELETE FROM sessions WHERE id = ? AND NOT EXISTS"
                        " (SELECT 1 FROM requests WHERE session_id = ?)",
                        (request.id, request.id),
                    )
                if existing is None:
                    db.execute(
                        f"INSERT INTO requests ({_REQUEST_COLUMNS}, request_body, response_body,"
                        " version) VALUES (" + ",".join("?" * 23) + ")",
                        row,
                    )
                    counts.imported += 1
                else:
                    if existing["version"] > row[-1]:
                        counts.skipped += 1
                        continue
                    keep_body = existing["body_state"] == "full" and request.body_state != "full"
                    if keep_body:
                        row = (*row[:18], "full", row[19], None, None, row[22])
                    db.execute(
                        # A partial row (e.g. the legacy shape) never erases known values.
                        "UPDATE requests SET session_id=COALESCE(?, session_id), created_at=?,"
                        " response_at=COALESCE(?, response_at), session_name=?, session_path=?,"
                        " prompt_id=COALESCE(?, prompt_id), provider=?, model=?,"
                        " target_url=COALESCE(?, target_url), request_url=COALESCE(?, request_url),"
                        " status=COALESCE(?, status), latency_ms=COALESCE(?, latency_ms),"
                        " ttft_ms=COALESCE(?, ttft_ms), prompt_tokens=COALESCE(?, prompt_tokens),"
                        " completion_tokens=COALESCE(?, completion_tokens),"
                        " total_tokens=COALESCE(?, total_tokens), cost=COALESCE(?, cost),"
                        " body_state=?, meta=?,"
                        " request_body=COALESCE(?, CASE WHEN ? THEN request_body END),"
                        " response_body=COALESCE(?, CASE WHEN ? THEN response_body END),"
                        " version=? WHERE id=?",
                        (*row[1:20], row[20], keep_body, row[21], keep_body, row[22], row[0]),
                    )
                    counts.updated += 1
                    if existing["session_id"]:
                        touched.add(existing["session_id"])
                if request.session_id:
                    touched.add(request.session_id)
            self._refresh_sessions(db, touched, source)
            self._refresh_lone(db, lone, source)
        return counts

    def get_request(self, request_id: str) -> LoggedRequest | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_REQUEST_COLUMNS}, request_body, response_body FROM requests"
                " WHERE id = ?",
                (request_id,),
            ).fetchone()
        return None if row is None else _request_from_row(row, bodies=True)

    def session_requests(self, session_id: str, *, bodies: bool = False) -> list[LoggedRequest]:
        """A session's requests in start order; without bodies unless asked (fast for trees).

        A request logged without a session is a session of its own, under its request id.
        """
        columns = _REQUEST_COLUMNS + (", request_body, response_body" if bodies else "")
        with self._lock:
            rows = self._db.execute(
                f"SELECT {columns} FROM requests WHERE session_id = ? ORDER BY created_at, id",
                (session_id,),
            ).fetchall()
            if not rows:
                rows = self._db.execute(
                    f"SELECT {columns} FROM requests WHERE id = ? AND session_id IS NULL",
                    (session_id,),
                ).fetchall()
        return [_request_from_row(row, bodies=bodies) for row in rows]

    def requests_with_prompt(self, session_id: str, prompt_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM requests WHERE (session_id = ?1 OR (id = ?1 AND session_id IS"
                " NULL)) AND prompt_id = ?2 ORDER BY created_at",
                (session_id, prompt_id),
            ).fetchall()
        return [row[0] for row in rows]

    # -- sessions --------------------------------------------------------------------------
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
        where, params = _search_clause(search)
        order = SORT_COLUMNS.get(sort, "started_at")
        direction = "DESC" if descending else "ASC"
        sql = (
            "SELECT id, name, started_at, ended_at, requests, cost, total_tokens, models, source,"
            " (SELECT COUNT(*) FROM replays r WHERE r.session_id = sessions.id) AS replays,"
            f" {_SESSIONLESS} AS sessionless"
            f" FROM sessions {where} ORDER BY {order} {direction}, id {direction}"
        )
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, limit, offset]
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [_session_from_row(row) for row in rows]

    def count_sessions(self, search: str | None = None) -> int:
        where, params = _search_clause(search)
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM sessions {where}", params).fetchone()[0]

    def get_session(self, session_id: str) -> SessionSummary | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, started_at, ended_at, requests, cost, total_tokens, models,"
                " source, (SELECT COUNT(*) FROM replays r WHERE r.session_id = sessions.id)"
                f" AS replays, {_SESSIONLESS} AS sessionless FROM sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
        return None if row is None else _session_from_row(row)

    def _refresh_sessions(
        self, db: sqlite3.Connection, session_ids: set[str], source: str | None = None
    ) -> None:
        """Recompute the aggregate rows of the sessions an import touched."""
        for session_id in session_ids:
            agg = db.execute(
                "SELECT MIN(created_at), MAX(COALESCE(response_at, created_at)), COUNT(*),"
                " COALESCE(SUM(cost), 0), COALESCE(SUM(total_tokens), 0),"
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

    def _refresh_lone(
        self, db: sqlite3.Connection, requests: dict[str, LoggedRequest], source: str | None
    ) -> None:
        """One session row per request logged without a session id, keyed by the request id.

        Its name is the logged session name when there is one, else what the request asked
        (`core.formats.request_label`); its search text says `no session` so a filter finds
        them all.
        """
        from core.formats import request_label

        for request_id, request in requests.items():
            row = db.execute(
                "SELECT created_at, COALESCE(response_at, created_at), COALESCE(cost, 0),"
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

    # -- raw access for the replay and evaluation layers -----------------------------------
    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run one statement under the store's lock (autocommit) and return its rows."""
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # -- replays ---------------------------------------------------------------------------
    # A replay row holds its spec (edits, mode, target; never keys); each result is its own
    # row, committed as soon as the request completes so an interrupted replay can resume.
    def create_replay(self, spec: ReplaySpec, *, replay_id: str | None = None) -> Replay:
        from datetime import UTC, datetime
        from uuid import uuid4

        from core.replay.models import Replay

        replay = Replay(
            id=replay_id or str(uuid4()),
            session_id=spec.session_id,
            created_at=datetime.now(UTC),
            status="running",
            mode=spec.mode,
            spec=spec,
        )
        with self._lock:
            self._db.execute(
                "INSERT INTO replays (id, session_id, created_at, finished_at, status, mode, spec,"
                " owner_pid) VALUES (?,?,?,?,?,?,?,?)",
                (
                    replay.id,
                    replay.session_id,
                    format_time(replay.created_at),
                    None,
                    replay.status,
                    replay.mode,
                    spec.model_dump_json(),
                    os.getpid(),
                ),
            )
        return replay

    def save_result(self, replay_id: str, result: ReplayResult) -> None:
        """Insert or replace one request's result; autocommit makes it durable at once."""
        with self._lock:
            self._db.execute(
                "INSERT INTO replay_results (replay_id, request_id, status, finished_at, data)"
                " VALUES (?,?,?,?,?) ON CONFLICT(replay_id, request_id) DO UPDATE SET"
                " status=excluded.status, finished_at=excluded.finished_at, data=excluded.data",
                (
                    replay_id,
                    result.request_id,
                    result.status,
                    format_time(result.finished_at),
                    result.model_dump_json(),
                ),
            )

    def finish_replay(self, replay_id: str, status: str) -> None:
        from datetime import UTC, datetime

        finished = None if status == "running" else format_time(datetime.now(UTC))
        # A replay set running (again, on resume) belongs to this process from now on.
        with self._lock:
            self._db.execute(
                "UPDATE replays SET status = ?, finished_at = ?,"
                " owner_pid = CASE WHEN ? = 'running' THEN ? ELSE owner_pid END WHERE id = ?",
                (status, finished, status, os.getpid(), replay_id),
            )

    def get_replay(self, replay_id: str) -> Replay | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_REPLAY_COLUMNS} FROM replays WHERE id = ?", (replay_id,)
            ).fetchone()
        return None if row is None else _replay_from_row(row)

    def list_replays(self, session_id: str | None = None) -> list[Replay]:
        """Replays newest first, of one session or of all."""
        where, params = ("WHERE session_id = ?", (session_id,)) if session_id else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_REPLAY_COLUMNS} FROM replays {where} ORDER BY created_at DESC, id",
                params,
            ).fetchall()
        return [_replay_from_row(row) for row in rows]

    def replay_results(self, replay_id: str) -> dict[str, ReplayResult]:
        from core.replay.models import ReplayResult

        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM replay_results WHERE replay_id = ? ORDER BY rowid",
                (replay_id,),
            ).fetchall()
        results = [ReplayResult.model_validate_json(row[0]) for row in rows]
        return {result.request_id: result for result in results}


# A session row standing for one request logged without a session id (a primary-key lookup).
_SESSIONLESS = (
    "EXISTS (SELECT 1 FROM requests q WHERE q.id = sessions.id AND q.session_id IS NULL)"
)


def _split_sql(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _search_clause(search: str | None) -> tuple[str, list[Any]]:
    if not search or not search.strip():
        return "", []
    terms = search.lower().split()
    clauses = " AND ".join("instr(search, ?) > 0" for _ in terms)
    return f"WHERE {clauses}", terms


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _request_row(request: LoggedRequest) -> tuple[Any, ...]:
    meta: dict[str, Any] = {
        "properties": request.properties, "scores": request.scores, "user_id": request.user_id
    }
    if request.raw_cost is not None:
        meta["raw_cost"] = request.raw_cost
    version = format_time(request.response_at or request.created_at) or ""
    return (
        request.id,
        request.session_id,
        format_time(request.created_at),
        format_time(request.response_at),
        request.session_name,
        request.session_path,
        request.prompt_id or _derived_prompt_id(request),
        request.provider,
        request.model,
        request.target_url,
        request.request_url,
        request.status,
        request.latency_ms,
        request.time_to_first_token_ms,
        request.prompt_tokens,
        request.completion_tokens,
        request.total_tokens,
        request.cost,
        request.body_state,
        _dumps(meta),
        _dumps(request.request_body),
        _dumps(request.response_body),
        version,
    )


def _derived_prompt_id(request: LoggedRequest) -> str | None:
    """Requests logged without a prompt id get one from their system prompt (core.prompts)."""
    if request.body_state != "full":
        return None
    from core.prompts import derived_prompt_id

    return derived_prompt_id(request.request_body, request.provider,
                             request.request_url or request.target_url)


def _request_from_row(row: sqlite3.Row, *, bodies: bool) -> LoggedRequest:
    meta = json.loads(row["meta"] or "{}")
    values: dict[str, Any] = {
        "id": row["id"],
        "session_id": row["session_id"],
        "created_at": parse_time(row["created_at"]),
        "response_at": parse_time(row["response_at"]),
        "session_name": row["session_name"],
        "session_path": row["session_path"],
        "prompt_id": row["prompt_id"],
        "provider": row["provider"],
        "model": row["model"],
        "target_url": row["target_url"],
        "request_url": row["request_url"],
        "status": row["status"],
        "latency_ms": row["latency_ms"],
        "time_to_first_token_ms": row["ttft_ms"],
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "total_tokens": row["total_tokens"],
        "cost": row["cost"],
        "body_state": row["body_state"],
        "properties": meta.get("properties") or {},
        "scores": meta.get("scores") or {},
        "user_id": meta.get("user_id"),
        "raw_cost": meta.get("raw_cost"),
    }
    if bodies:
        raw_request, raw_response = row["request_body"], row["response_body"]
        values["request_body"] = None if raw_request is None else json.loads(raw_request)
        values["response_body"] = None if raw_response is None else json.loads(raw_response)
    return LoggedRequest.model_construct(**values)


def _session_from_row(row: sqlite3.Row) -> SessionSummary:
    return SessionSummary.model_construct(
        id=row["id"],
        name=row["name"],
        started_at=parse_time(row["started_at"]),
        ended_at=parse_time(row["ended_at"]),
        requests=row["requests"],
        cost=row["cost"],
        total_tokens=row["total_tokens"],
        replays=row["replays"],
        models=[m for m in row["models"].split(",") if m],
        source=row["source"],
        sessionless=bool(row["sessionless"]),
    )


_REPLAY_COLUMNS = (
    "id, session_id, created_at, finished_at, status, mode, spec, owner_pid,"
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id) AS total,"
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id"
    "  AND x.status = 'failed') AS failed,"
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id"
    "  AND x.status IN ('done', 'diverged')) AS done"
)


def _replay_from_row(row: sqlite3.Row) -> Replay:
    from core.replay.models import Replay, ReplaySpec

    return Replay(
        id=row["id"],
        session_id=row["session_id"],
        created_at=parse_time(row["created_at"]),
        finished_at=parse_time(row["finished_at"]),
        status=_live_status(row["status"], row["owner_pid"]),
        mode=row["mode"],
        spec=ReplaySpec.model_validate_json(row["spec"] or "{}"),
        total=row["total"],
        failed=row["failed"],
        done=row["done"],
    )


def _live_status(status: str, owner_pid: int | None) -> str:
    """A replay still marked running whose process is gone (kill -9, crash) was interrupted."""
    if status != "running" or not owner_pid or owner_pid == os.getpid():
        return status
    try:
        os.kill(owner_pid, 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:  # alive, owned by another user
        return status
    return status

"""The local SQLite store: the only module that speaks SQL.

One file, WAL mode, schema versioned with `PRAGMA user_version`. Sessions are kept as an
aggregate table refreshed on every import so listing 10,000 sessions is one indexed query;
bodies are stored as JSON text and parsed only when a request is opened.

Opening checks the file before writing a byte (foreign, newer or damaged files are refused
with a `StoreError`); every fault later on (locked beyond the busy timeout, disk full, the
file deleted under us) is a `StoreError` with one line that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.models import LoggedRequest, SessionSummary
from core.parsing import format_time, parse_time
from core.replay.status import FAILED, SUCCEEDED

if TYPE_CHECKING:
    from core.replay.models import Replay, ReplayResult, ReplaySpec

SCHEMA_VERSION = 4
# `PRAGMA application_id` of reprise stores ("RPRS"); stores made before it was set have 0.
APPLICATION_ID = 0x52505253
# How long a write waits for another process's write to finish before giving up.
BUSY_TIMEOUT_S = 15.0
# `PRAGMA quick_check` reads every page: run it on open only for stores up to this size.
QUICK_CHECK_MAX_BYTES = 64 << 20
# Rows staged per short transaction on the private temp table during an import.
STAGE_BATCH_ROWS = 1000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_REPRISE_TABLES = {"requests", "sessions", "replays", "replay_results"}

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

# v3: the evaluation and matrix tables, once created on first use; IF NOT EXISTS keeps the
# ones an older reprise already made (same columns).
_SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS judge_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    score REAL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replay_scorers (
    replay_id TEXT PRIMARY KEY,
    scorers TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS matrices (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
);
CREATE TABLE IF NOT EXISTS matrix_cells (
    matrix_id TEXT NOT NULL REFERENCES matrices(id) ON DELETE CASCADE,
    cell_key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    replay_id TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    error TEXT,
    PRIMARY KEY (matrix_id, cell_key, session_id)
)
"""
# v4: rounds an agent replay added beyond the recording are results too; `after` names the
# request they follow (NULL for recorded requests), so counts of a replay leave them out.
_SCHEMA_V4 = "ALTER TABLE replay_results ADD COLUMN after TEXT"

MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4,
}

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


class StoreError(RuntimeError):
    """A store fault, said in one line that names the file and what to do."""


def describe_store_error(
    exc: BaseException, path: str | Path, *, waited: float = BUSY_TIMEOUT_S
) -> str:
    """One line for a SQLite or OS fault on the store at `path`."""
    if isinstance(exc, StoreError):
        return str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = " ".join(str(exc).split())
    if primary in (5, 6) or "locked" in text or "busy" in text:  # SQLITE_BUSY, SQLITE_LOCKED
        return (
            f"store {path} is locked by another process (waited {waited:g} s);"
            " try again when the other reprise command has finished"
        )
    if primary == 13 or "disk is full" in text:  # SQLITE_FULL
        return f"store {path}: the disk is full; free some space and run the command again"
    if primary in (11, 26) or "malformed" in text or "not a database" in text:
        return _damaged(path, text)
    if primary == 8 or "readonly" in text:  # SQLITE_READONLY
        return f"store {path} is read-only; check its permissions or pass another --db"
    if primary in (10, 14) or isinstance(exc, OSError):  # SQLITE_IOERR, SQLITE_CANTOPEN
        reason = getattr(exc, "strerror", None) or text
        return f"cannot read or write store {path} ({reason}); check the disk and the file"
    return f"store {path}: {text}"


def _damaged(path: str | Path, detail: str) -> str:
    detail = " ".join(detail.replace("*", " ").split())[:160]
    return (
        f"store {path} is damaged ({detail}); restore a backup, or move it aside and"
        " re-import (`sqlite3 FILE .recover` can salvage what is left)"
    )


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

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _check_file(self.path)
            if not self.path.exists():
                # Create the file 0600 before SQLite does: bodies can hold private data.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            info = self.path.stat()
        except OSError as exc:
            raise StoreError(describe_store_error(exc, self.path)) from None
        self._identity = (info.st_dev, info.st_ino)
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=busy_timeout
            )
        except sqlite3.Error as exc:
            raise StoreError(describe_store_error(exc, self.path)) from None
        self._db.row_factory = sqlite3.Row
        try:
            # Nothing is written before the file is known to be a healthy reprise store.
            self._check_schema(check=info.st_size <= QUICK_CHECK_MAX_BYTES)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, StoreError | sqlite3.Error):
                raise StoreError(describe_store_error(exc, self.path)) from None
            raise

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> Store:
        """Open (or create) the store at `path`; raises `StoreError` with one line."""
        return cls(path, busy_timeout=busy_timeout)

    def _check_schema(self, *, check: bool) -> None:
        """Refuse foreign, newer and (for stores small enough to scan) damaged files."""
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        ours = app_id == APPLICATION_ID or (
            app_id == 0 and version >= 1 and {"requests", "sessions"} <= tables
        )
        empty = app_id == 0 and version == 0 and not tables
        if not ours and not empty:
            raise StoreError(_foreign(self.path))
        if version > SCHEMA_VERSION:
            raise StoreError(_newer(self.path, version))
        if check and not empty:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                raise StoreError(_damaged(self.path, "; ".join(problems)[:200]))

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def faults(self) -> Iterator[None]:
        """Turn SQLite and OS faults on this store into a one-line `StoreError`."""
        try:
            yield
        except StoreError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                describe_store_error(exc, self.path, waited=self.busy_timeout)
            ) from None

    def check_alive(self) -> None:
        """Fail when the file was deleted or replaced while open: writes would go nowhere."""
        try:
            info = self.path.stat()
        except OSError:
            info = None
        if info is None or (info.st_dev, info.st_ino) != self._identity:
            raise StoreError(
                f"store {self.path} was deleted or replaced while reprise was using it;"
                " nothing more can be saved to it"
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes: an import never leaves the store half-written."""
        with self._lock, self.faults():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self.check_alive()
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock, self.faults():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(_newer(self.path, version))
            for target in range(version + 1, SCHEMA_VERSION + 1):
                with self.transaction() as db:
                    for statement in _split_sql(MIGRATIONS[target]):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {target}")
                    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    # -- requests --------------------------------------------------------------------------
    def upsert_requests(
        self, requests: Iterable[LoggedRequest], *, source: str | None = None
    ) -> ImportCounts:
        """Insert or update requests all-or-nothing; a request id is kept once.

        The newer version of a row wins its values; a thinner body (preview, missing) never
        replaces a fuller one, and a fuller body is taken even from an older row. Rows are
        first staged in short transactions on a private temp table (no lock on the store),
        then merged in one short write transaction, so a long import never holds other
        reprise processes off for longer than the merge. `source` labels the sessions touched
        (e.g. "helicone" for pulled ones).
        """
        counts = ImportCounts()
        lone: dict[str, LoggedRequest] = {}  # requests without a session: listed on their own
        stage = f"temp.import_stage_{uuid.uuid4().hex}"
        with self._lock, self.faults():
            self._db.execute(f"CREATE TABLE {stage} AS SELECT {_ALL_COLUMNS} FROM requests LIMIT 0")
            self._db.execute(f"CREATE UNIQUE INDEX {stage}_id ON {stage.split('.')[1]} (id)")
        try:
            staged = offered = changed = 0
            batch: list[tuple[Any, ...]] = []
            for request in [*requests, None]:
                if request is not None:
                    batch.append(_request_row(request))
                    if not request.session_id:
                        lone[request.id] = request
                    if len(batch) < STAGE_BATCH_ROWS:
                        continue
                if not batch:
                    break
                with self._lock, self.faults():
                    self._db.execute("BEGIN")  # the temp table only: the store is not locked
                    try:
                        cursor = self._db.executemany(_upsert_sql(stage, values=True), batch)
                        changed += cursor.rowcount
                        self._db.execute("COMMIT")
                    except BaseException:
                        self._db.execute("ROLLBACK")
                        raise
                offered += len(batch)
                batch = []
            with self._lock, self.faults():
                staged = self._db.execute(f"SELECT COUNT(*) FROM {stage}").fetchone()[0]
            # Repeats of an id inside the batch: updated when they won, skipped when not.
            counts.updated += changed - staged
            counts.skipped += offered - changed
            with self.transaction() as db:
                touched = {
                    row[0]
                    for row in db.execute(
                        f"SELECT session_id FROM {stage} WHERE session_id IS NOT NULL UNION"
                        f" SELECT r.session_id FROM requests r JOIN {stage} s ON s.id = r.id"
                        " WHERE r.session_id IS NOT NULL"
                    )
                }
                existing = db.execute(
                    f"SELECT COUNT(*) FROM {stage} s WHERE EXISTS"
                    " (SELECT 1 FROM requests r WHERE r.id = s.id)"
                ).fetchone()[0]
                # The same row again, byte for byte: nothing is written.
                counts.unchanged += db.execute(
                    f"SELECT COUNT(*) FROM {stage} s JOIN requests r ON r.id = s.id WHERE "
                    + _IDENTICAL.format(new="s", old="r")
                ).fetchone()[0]
                merged = db.execute(_upsert_sql("requests", source=stage)).rowcount
                inserted = staged - existing
                counts.imported += inserted
                counts.updated += merged - inserted
                counts.skipped += existing - (merged - inserted) - counts.unchanged
                # A request that now has a session no longer stands as a session of its own.
                db.execute(
                    f"DELETE FROM sessions WHERE id IN (SELECT id FROM {stage}"
                    " WHERE session_id IS NOT NULL) AND NOT EXISTS"
                    " (SELECT 1 FROM requests q WHERE q.session_id = sessions.id)"
                )
                self._refresh_sessions(db, touched, source)
                self._refresh_lone(db, lone, source)
        finally:
            with self._lock, self.faults():
                self._db.execute(f"DROP TABLE IF EXISTS {stage}")
        return counts

    def get_request(self, request_id: str) -> LoggedRequest | None:
        with self._lock, self.faults():
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
        with self._lock, self.faults():
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
        with self._lock, self.faults():
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
        with self._lock, self.faults():
            rows = self._db.execute(sql, params).fetchall()
        return [_session_from_row(row) for row in rows]

    def count_sessions(self, search: str | None = None) -> int:
        where, params = _search_clause(search)
        with self._lock, self.faults():
            return self._db.execute(f"SELECT COUNT(*) FROM sessions {where}", params).fetchone()[0]

    def get_session(self, session_id: str) -> SessionSummary | None:
        with self._lock, self.faults():
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
                # TOTAL, not SUM: a sum past 64 bits must not abort the import.
                " TOTAL(cost), CAST(MIN(TOTAL(total_tokens), 9.2e18) AS INTEGER),"
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

    def data_version(self) -> int:
        """A number that changes when another connection (a `reprise record` process, an
        import in another terminal) commits to this store: cheap enough to poll."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def preview_request_ids(self, model: str) -> list[str]:
        """Requests of `model` logged with only a text preview (a signed body may match)."""
        return [row[0] for row in self._rows(
            "SELECT id FROM requests WHERE body_state = 'preview' AND model = ?", (model,))]

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, self.faults():
            return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """One raw statement on this connection, for tests and diagnostics only: no module of
        reprise calls it (a test checks), every table and query lives in this class."""
        return self._rows(sql, tuple(params))

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file (for a store shipped as one file)."""
        self._rows("PRAGMA wal_checkpoint(TRUNCATE)")

    @property
    def schema_version(self) -> int:
        return int(self._rows("PRAGMA user_version")[0][0])

    def tables(self) -> set[str]:
        return {row[0] for row in self._rows("SELECT name FROM sqlite_master WHERE type='table'")}

    # -- replays ---------------------------------------------------------------------------
    # A replay row holds its spec (edits, mode, target; never keys); each result is its own
    # row, committed as soon as the request completes so an interrupted replay can resume.
    def create_replay(
        self, spec: ReplaySpec, *, replay_id: str | None = None, created_at: datetime | None = None
    ) -> Replay:
        from uuid import uuid4

        from core.replay.models import Replay

        replay = Replay(
            id=replay_id or str(uuid4()),
            session_id=spec.session_id,
            created_at=created_at or datetime.now(UTC),
            status="running",
            mode=spec.mode,
            spec=spec,
        )
        with self._lock, self.faults():
            self.check_alive()
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
        with self._lock, self.faults():
            self.check_alive()
            self._db.execute(
                "INSERT INTO replay_results (replay_id, request_id, status, finished_at, data,"
                " after) VALUES (?,?,?,?,?,?) ON CONFLICT(replay_id, request_id) DO UPDATE SET"
                " status=excluded.status, finished_at=excluded.finished_at, data=excluded.data",
                (
                    replay_id,
                    result.request_id,
                    result.status,
                    format_time(result.finished_at),
                    _result_json(result),
                    result.after if result.extra else None,
                ),
            )

    def finish_replay(self, replay_id: str, status: str) -> None:
        finished = None if status == "running" else format_time(datetime.now(UTC))
        # A replay set running (again, on resume) belongs to this process from now on.
        with self._lock, self.faults():
            self.check_alive()
            self._db.execute(
                "UPDATE replays SET status = ?, finished_at = ?,"
                " owner_pid = CASE WHEN ? = 'running' THEN ? ELSE owner_pid END WHERE id = ?",
                (status, finished, status, os.getpid(), replay_id),
            )

    def claim_replay(self, replay_id: str, seen_owner: int | None) -> bool:
        """Mark a replay running in this process, unless another process claimed it since its
        owner was read as `seen_owner` (two resumes at once: only one wins)."""
        with self._lock, self.faults():
            self.check_alive()
            cursor = self._db.execute(
                "UPDATE replays SET status = 'running', finished_at = NULL, owner_pid = ?"
                " WHERE id = ? AND owner_pid IS ?",
                (os.getpid(), replay_id, seen_owner),
            )
        return cursor.rowcount == 1

    def get_replay(self, replay_id: str) -> Replay | None:
        with self._lock, self.faults():
            row = self._db.execute(
                f"SELECT {_REPLAY_COLUMNS} FROM replays WHERE id = ?", (replay_id,)
            ).fetchone()
        return None if row is None else _replay_from_row(row)

    def list_replays(self, session_id: str | None = None) -> list[Replay]:
        """Replays newest first, of one session or of all."""
        where, params = ("WHERE session_id = ?", (session_id,)) if session_id else ("", ())
        with self._lock, self.faults():
            rows = self._db.execute(
                f"SELECT {_REPLAY_COLUMNS} FROM replays {where} ORDER BY created_at DESC, id",
                params,
            ).fetchall()
        return [_replay_from_row(row) for row in rows]

    def replay_results(self, replay_id: str) -> dict[str, ReplayResult]:
        from core.replay.models import ReplayResult

        with self._lock, self.faults():
            rows = self._db.execute(
                "SELECT data FROM replay_results WHERE replay_id = ? ORDER BY rowid",
                (replay_id,),
            ).fetchall()
        results = [ReplayResult.model_validate_json(row[0]) for row in rows]
        return {result.request_id: result for result in results}


    def replay_results_for(self, replay_id: str, request_ids: list[str]) -> dict[str, ReplayResult]:
        """The results of a few requests of a replay (one indexed read each)."""
        from core.replay.models import ReplayResult

        found = {}
        for request_id in request_ids:
            rows = self._rows(
                "SELECT data FROM replay_results WHERE replay_id = ? AND request_id = ?",
                (replay_id, request_id),
            )
            if rows:
                found[request_id] = ReplayResult.model_validate_json(rows[0][0])
        return found

    # -- evaluations ----------------------------------------------------------------------
    def save_replay_scorers(self, replay_id: str, scorers_json: str) -> None:
        """Keep the scorers (JSON) attached to a replay, replacing earlier ones."""
        self._rows(
            "INSERT INTO replay_scorers (replay_id, scorers) VALUES (?, ?) ON CONFLICT(replay_id)"
            " DO UPDATE SET scorers = excluded.scorers",
            (replay_id, scorers_json),
        )

    def replay_scorers(self, replay_id: str) -> str | None:
        rows = self._rows("SELECT scorers FROM replay_scorers WHERE replay_id = ?", (replay_id,))
        return rows[0][0] if rows else None

    def cached_judgement(self, key: str) -> tuple[str, float | None] | None:
        rows = self._rows("SELECT reply, score FROM judge_cache WHERE key = ?", (key,))
        return (rows[0][0], rows[0][1]) if rows else None

    def cache_judgement(self, key: str, model: str, reply: str, score: float | None) -> None:
        self._rows(
            "INSERT OR REPLACE INTO judge_cache (key, model, reply, score, created_at)"
            " VALUES (?,?,?,?,?)",
            (key, model, reply, score, datetime.now(UTC).isoformat()),
        )

    # -- matrices ---------------------------------------------------------------------------
    # A matrix row holds its spec (JSON); each (cell, session) run is a row pointing at the
    # replay that ran it, so an interrupted matrix resumes with the cells still pending.
    def create_matrix(
        self, matrix_id: str, spec_json: str, created_at: datetime, cells: list[tuple[str, str]]
    ) -> None:
        """The matrix and all its (cell key, session id) runs, pending, in one transaction."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO matrices (id, spec, created_at, status) VALUES (?,?,?,?)",
                (matrix_id, spec_json, created_at.isoformat(), "pending"),
            )
            db.executemany(
                "INSERT INTO matrix_cells (matrix_id, cell_key, session_id, position)"
                " VALUES (?,?,?,?)",
                [(matrix_id, key, sid, position) for position, (key, sid) in enumerate(cells)],
            )

    def get_matrix_rows(self, matrix_id: str) -> tuple[sqlite3.Row, list[sqlite3.Row]] | None:
        """A matrix row (id, spec, created_at, status) and its runs in order."""
        with self._lock, self.faults():
            row = self._db.execute(
                "SELECT id, spec, created_at, status FROM matrices WHERE id = ?", (matrix_id,)
            ).fetchone()
            if row is None:
                return None
            runs = self._db.execute(
                "SELECT cell_key, session_id, position, replay_id, status, error FROM matrix_cells"
                " WHERE matrix_id = ? ORDER BY position",
                (matrix_id,),
            ).fetchall()
        return row, runs

    def matrix_ids(self) -> list[str]:
        """Matrices newest first."""
        return [row[0] for row in self._rows(
            "SELECT id FROM matrices ORDER BY created_at DESC, id")]

    def update_matrix_run(
        self, matrix_id: str, cell_key: str, session_id: str,
        replay_id: str | None, status: str, error: str | None,
    ) -> None:
        self._rows(
            "UPDATE matrix_cells SET replay_id = ?, status = ?, error = ? WHERE matrix_id = ?"
            " AND cell_key = ? AND session_id = ?",
            (replay_id, status, error, matrix_id, cell_key, session_id),
        )

    def set_matrix_status(self, matrix_id: str, status: str) -> None:
        self._rows("UPDATE matrices SET status = ? WHERE id = ?", (status, matrix_id))


def _sql_set(values: frozenset[str]) -> str:
    """A status group as an SQL list literal (the groups are fixed words, never user input)."""
    return ", ".join(f"'{value}'" for value in sorted(values))


# A session row standing for one request logged without a session id (a primary-key lookup).
_SESSIONLESS = (
    "EXISTS (SELECT 1 FROM requests q WHERE q.id = sessions.id AND q.session_id IS NULL)"
)


def _check_file(path: Path) -> None:
    """Refuse what is not a regular SQLite file, or is a newer reprise store, unopened."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a special file"
        raise StoreError(f"store {path} is {kind}, not a file; pass --db with a file path")
    if info.st_size == 0:
        return
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise StoreError(
            f"{path} is not a SQLite database (not a reprise store, or its first page is"
            " damaged); pass --db with a reprise store or a new file"
        )
    version = int.from_bytes(header[60:64], "big")
    app_id = int.from_bytes(header[68:72], "big")
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(_foreign(path))
    if app_id == APPLICATION_ID and version > SCHEMA_VERSION:
        raise StoreError(_newer(path, version))


def _foreign(path: Path) -> str:
    return (
        f"{path} is not a reprise store (another application's SQLite database); pass --db"
        " with a reprise store or a new file"
    )


def _newer(path: Path, version: int) -> str:
    return (
        f"store {path} was written by a newer reprise (schema {version}, this one reads up to"
        f" {SCHEMA_VERSION}); upgrade reprise to open it"
    )


_ALL_COLUMNS = _REQUEST_COLUMNS + ", request_body, response_body, version"
# Columns a newer row replaces, and those it fills only when it knows them.
_REPLACED = ("created_at", "session_name", "session_path", "meta")
_FILLED = (
    "session_id", "response_at", "prompt_id", "target_url", "request_url", "status",
    "latency_ms", "ttft_ms", "prompt_tokens", "completion_tokens", "total_tokens", "cost",
)
_BODIES = ("body_state", "request_body", "response_body")
# Two rows alike in every column (NULL-safe): a re-import that changes nothing.
_IDENTICAL = " AND ".join(f"{{new}}.{c} IS {{old}}.{c}" for c in _ALL_COLUMNS.split(", "))


def _upsert_sql(table: str, *, values: bool = False, source: str | None = None) -> str:
    """The one merge rule for request rows, as an upsert into `table`.

    A row at least as new as the stored one wins its values (unknown ones never erase known
    ones); its bodies win unless they are thinner. An older row only ever brings a fuller
    body (a full body behind a newer preview or placeholder) and fills unknown values.
    """
    name = table.split(".")[-1]

    def rank(row: str) -> str:
        return f"(CASE {row}.body_state WHEN 'full' THEN 2 WHEN 'preview' THEN 1 ELSE 0 END)"

    newer = f"excluded.version >= {name}.version"
    fuller = f"{rank('excluded')} > {rank(name)}"
    take_body = f"(({newer} AND {rank('excluded')} >= {rank(name)}) OR {fuller})"
    sets = [f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE {name}.{c} END" for c in _REPLACED]
    sets += [
        f"{c} = CASE WHEN {newer} THEN COALESCE(excluded.{c}, {name}.{c})"
        f" ELSE COALESCE({name}.{c}, excluded.{c}) END"
        for c in _FILLED
    ]
    sets += [
        f"{c} = CASE WHEN {newer} AND excluded.{c} != 'unknown' THEN excluded.{c}"
        f" WHEN {name}.{c} = 'unknown' THEN excluded.{c} ELSE {name}.{c} END"
        for c in ("provider", "model")
    ]
    sets += [f"{c} = CASE WHEN {take_body} THEN excluded.{c} ELSE {name}.{c} END" for c in _BODIES]
    sets.append(f"version = MAX({name}.version, excluded.version)")
    rows = (
        "VALUES (" + ",".join("?" * len(_ALL_COLUMNS.split(","))) + ")"
        if values
        else f"SELECT {_ALL_COLUMNS} FROM {source} WHERE true"
    )
    return (
        f"INSERT INTO {table} ({_ALL_COLUMNS}) {rows} ON CONFLICT(id) DO UPDATE SET "
        + ", ".join(sets)
        + f" WHERE ({newer} OR {fuller}) AND NOT ("
        + _IDENTICAL.format(new="excluded", old=name)
        + ")"
    )


def _result_json(result: ReplayResult) -> str:
    """A result as JSON; bodies too deep for the model's serializer are kept as JSON text.

    A paid response must never be lost because its shape is odd: it is stored raw instead.
    """
    try:
        return result.model_dump_json()
    except (ValueError, RecursionError):
        pass
    update: dict[str, Any] = {}
    for name in ("sent_body", "response_body"):
        try:
            text = json.dumps(getattr(result, name), ensure_ascii=False)
        except (ValueError, RecursionError, TypeError):
            text = "(too deeply nested to store)"
        update[name] = {"_raw_json": text} if name == "sent_body" else text
    return result.model_copy(update=update).model_dump_json()


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
    meta = _loads_stored(row["meta"] or "{}")
    meta = meta if isinstance(meta, dict) else {}
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
        values["request_body"] = _loads_stored(row["request_body"])
        values["response_body"] = _loads_stored(row["response_body"])
    return LoggedRequest.model_construct(**values)


def _loads_stored(raw: str | None) -> Any:
    """A stored body; text that no longer parses (too deep, damaged) is kept as text."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw


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
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id"
    "  AND x.after IS NULL) AS total,"
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id"
    f"  AND x.after IS NULL AND x.status IN ({_sql_set(FAILED)})) AS failed,"
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id"
    f"  AND x.after IS NULL AND x.status IN ({_sql_set(SUCCEEDED)})) AS done"
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
        owner_pid=row["owner_pid"],
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

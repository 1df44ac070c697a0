"""The store's file: schema migrations, what a reprise store is, and how faults are said.

No pydantic and no models here: opening checks and the first rows of the sessions list
(`core.store.peek`) need only this and `sqlite3`, so the app can list sessions before the
heavy modules load.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SCHEMA_VERSION = 5
# `PRAGMA application_id` of reprise stores ("RPRS"); stores made before it was set have 0.
APPLICATION_ID = 0x52505253
# How long a write waits for another process's write to finish before giving up.
BUSY_TIMEOUT_S = 15.0
# `PRAGMA quick_check` reads every page: run it on open only for stores up to this size.
QUICK_CHECK_MAX_BYTES = 64 << 20
# Rows staged per short transaction on the private temp table during an import.
STAGE_BATCH_ROWS = 1000
_SQLITE_MAGIC = b"SQLite format 3\x00"

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

# v5: a session's cost is NULL when none of its requests has one (a recording, a trace
# imported without costs), not a false $0. SQLite cannot drop NOT NULL in place, so the
# table is rebuilt and every cost recomputed from its requests.
_SCHEMA_V5 = """
CREATE TABLE sessions_v5 (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    requests INTEGER NOT NULL,
    cost REAL,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    models TEXT NOT NULL DEFAULT '',
    search TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'local'
);
INSERT INTO sessions_v5 (id, name, started_at, ended_at, requests, cost, total_tokens,
    models, search, source)
SELECT id, name, started_at, ended_at, requests, cost, total_tokens, models, search, source
FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v5 RENAME TO sessions;
CREATE INDEX sessions_by_start ON sessions (started_at DESC);
UPDATE sessions SET cost = COALESCE(
    (SELECT CASE WHEN COUNT(q.cost) THEN TOTAL(q.cost) END FROM requests q
     WHERE q.session_id = sessions.id),
    (SELECT q.cost FROM requests q WHERE q.id = sessions.id AND q.session_id IS NULL)
)
"""

MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4, 5: _SCHEMA_V5,
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


def default_db_path() -> Path:
    """The user's store: `$REPRISE_DB`, else the platform data directory."""
    env = os.environ.get("REPRISE_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("reprise", appauthor=False) / "reprise.db"


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


def replaced(path: str | Path) -> str:
    """A store deleted or replaced while open: writes would go to a file nobody reads."""
    return (f"store {path} was deleted or replaced while reprise was using it;"
            " nothing more can be saved to it")


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


def _split_sql(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


"""The requests table: imports (one merge rule, all-or-nothing) and reads."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from core.models import LoggedRequest
from core.parsing import format_time, parse_time
from core.store.base import Connection
from core.store.schema import STAGE_BATCH_ROWS
from core.store.sessions import refresh_lone, refresh_sessions

REQUEST_COLUMNS = (
    "id, session_id, created_at, response_at, session_name, session_path, prompt_id, provider,"
    " model, target_url, request_url, status, latency_ms, ttft_ms, prompt_tokens,"
    " completion_tokens, total_tokens, cost, body_state, meta"
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


class RequestsTable(Connection):
    """Logged requests: one row per request id, bodies as JSON text read on demand."""

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
                refresh_sessions(db, touched, source)
                refresh_lone(db, lone, source)
        finally:
            with self._lock, self.faults():
                self._db.execute(f"DROP TABLE IF EXISTS {stage}")
        return counts

    def get_request(self, request_id: str) -> LoggedRequest | None:
        with self._lock, self.faults():
            row = self._db.execute(
                f"SELECT {REQUEST_COLUMNS}, request_body, response_body FROM requests"
                " WHERE id = ?",
                (request_id,),
            ).fetchone()
        return None if row is None else _request_from_row(row, bodies=True)

    def request_ids_starting(self, prefix: str, limit: int = 4) -> list[str]:
        """Request ids starting with `prefix` (the 8-character ids `reprise tree` prints)."""
        with self._lock, self.faults():
            rows = self._db.execute(
                "SELECT id FROM requests WHERE id >= ?1 AND id < ?1 || char(1114111)"
                " ORDER BY id LIMIT ?2", (prefix, limit)).fetchall()
        return [row[0] for row in rows]

    def session_requests(self, session_id: str, *, bodies: bool = False) -> list[LoggedRequest]:
        """A session's requests in start order; without bodies unless asked (fast for trees).

        A request logged without a session is a session of its own, under its request id.
        """
        columns = REQUEST_COLUMNS + (", request_body, response_body" if bodies else "")
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

    def preview_request_ids(self, model: str) -> list[str]:
        """Requests of `model` logged with only a text preview (a signed body may match)."""
        return [row[0] for row in self._rows(
            "SELECT id FROM requests WHERE body_state = 'preview' AND model = ?", (model,))]


_ALL_COLUMNS = REQUEST_COLUMNS + ", request_body, response_body, version"
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


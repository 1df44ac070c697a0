"""The replays and their results: a replay row holds its spec (edits, mode, target; never
keys); each result is its own row, committed as soon as the request completes so an
interrupted replay can resume."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.parsing import format_time, parse_time
from core.replay.status import FAILED, SUCCEEDED
from core.store.base import Connection

if TYPE_CHECKING:
    from core.replay.models import Replay, ReplayResult, ReplaySpec


def _sql_set(values: frozenset[str]) -> str:
    """A status group as an SQL list literal (the groups are fixed words, never user input)."""
    return ", ".join(f"'{value}'" for value in sorted(values))



_REPLAY_COLUMNS = (
    "id, session_id, created_at, finished_at, status, mode, spec, owner_pid,"
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id"
    "  AND x.after IS NULL) AS total,"
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id"
    f"  AND x.after IS NULL AND x.status IN ({_sql_set(FAILED)})) AS failed,"
    " (SELECT COUNT(*) FROM replay_results x WHERE x.replay_id = replays.id"
    f"  AND x.after IS NULL AND x.status IN ({_sql_set(SUCCEEDED)})) AS done"
)



class ReplaysTable(Connection):
    """Replays of a session and the result of each request."""

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

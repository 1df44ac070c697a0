"""Evaluations and matrices: scorers attached to replays, the judge cache, and matrices.

A matrix row holds its spec (JSON); each (cell, session) run is a row pointing at the replay
that ran it, so an interrupted matrix resumes with the cells still pending.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from core.store.base import Connection


class EvaluationsTable(Connection):
    """Scorers, cached judgements, matrices and their cell runs."""

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

    def matrix_cell_replay_ids(self) -> set[str]:
        """Every replay a matrix cell made (they never become a session's current replay)."""
        return {row[0] for row in self._rows(
            "SELECT replay_id FROM matrix_cells WHERE replay_id IS NOT NULL")}

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



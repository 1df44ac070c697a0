"""`Store`: one SQLite store, every table group on one connection."""

from __future__ import annotations

from core.store.evaluations import EvaluationsTable
from core.store.replays import ReplaysTable
from core.store.requests import RequestsTable
from core.store.sessions import SessionsTable


class Store(RequestsTable, SessionsTable, ReplaysTable, EvaluationsTable):
    """A handle on one SQLite store. Safe to share between the UI thread and workers."""

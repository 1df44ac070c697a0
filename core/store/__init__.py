"""The local SQLite store: the only package that speaks SQL.

One file, WAL mode, schema versioned with `PRAGMA user_version` (`schema.py`). Sessions are
kept as an aggregate table refreshed on every import so listing 10,000 sessions is one
indexed query; bodies are stored as JSON text and parsed only when a request is opened.
One module per table group (`requests.py`, `sessions.py`, `replays.py`, `evaluations.py`)
on one connection (`base.py`); `peek.py` reads the first rows of the sessions list with
plain sqlite3 before the models load.

Opening checks the file before writing a byte (foreign, newer or damaged files are refused
with a `StoreError`); every fault later on (locked beyond the busy timeout, disk full, the
file deleted under us) is a `StoreError` with one line that says what to do.

`Store` and `ImportCounts` load on first use, so importing this package (for `peek`, or to
recognise a `StoreError`) never loads pydantic.
"""

from __future__ import annotations

import importlib
import sqlite3
from typing import TYPE_CHECKING, Any

from core.store.schema import (
    APPLICATION_ID,
    BUSY_TIMEOUT_S,
    MIGRATIONS,
    SCHEMA_VERSION,
    StoreError,
    default_db_path,
    describe_store_error,
)

if TYPE_CHECKING:
    from core.store.requests import ImportCounts
    from core.store.store import Store

__all__ = [
    "APPLICATION_ID", "BUSY_TIMEOUT_S", "MIGRATIONS", "SCHEMA_VERSION", "ImportCounts", "Store",
    "StoreError", "default_db_path", "describe_store_error", "sqlite3",
]

_LAZY = {"Store": "core.store.store", "ImportCounts": "core.store.requests"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'core.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

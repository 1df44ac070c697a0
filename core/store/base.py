"""The connection: opening (checks before any write), migrations, transactions, faults.

Table groups (`requests.py`, `sessions.py`, `replays.py`, `evaluations.py`) build on this
class; `core.store.Store` is all of them together.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from core.store.schema import (
    APPLICATION_ID,
    BUSY_TIMEOUT_S,
    MIGRATIONS,
    QUICK_CHECK_MAX_BYTES,
    SCHEMA_VERSION,
    StoreError,
    _check_file,
    _damaged,
    _foreign,
    _newer,
    _split_sql,
    describe_store_error,
    replaced,
)


class Connection:
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
    def open(cls, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> Self:
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

    def __enter__(self) -> Self:
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

    @property
    def identity(self) -> tuple[int, int]:
        """(device, inode) of the file opened: another process can check it opens the same."""
        return self._identity

    def check_alive(self) -> None:
        """Fail when the file was deleted or replaced while open: writes would go nowhere."""
        try:
            info = self.path.stat()
        except OSError:
            info = None
        if info is None or (info.st_dev, info.st_ino) != self._identity:
            raise StoreError(replaced(self.path))

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

    # -- small reads and diagnostics ------------------------------------------------------
    def data_version(self) -> int:
        """A number that changes when another connection (a `reprise record` process, an
        import in another terminal) commits to this store: cheap enough to poll."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, self.faults():
            return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """One raw statement on this connection, for tests and diagnostics only: no module of
        reprise calls it (a test checks), every table and query lives in this package."""
        return self._rows(sql, tuple(params))

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the main file (for a store shipped as one file)."""
        self._rows("PRAGMA wal_checkpoint(TRUNCATE)")

    @property
    def schema_version(self) -> int:
        return int(self._rows("PRAGMA user_version")[0][0])

    def tables(self) -> set[str]:
        return {row[0] for row in self._rows("SELECT name FROM sqlite_master WHERE type='table'")}


"""Store faults on real SQLite files: foreign, newer and damaged files, a held write lock,
a store deleted mid-run and a full disk. Each is a one-line `StoreError`, never a traceback,
and a refused file is left byte for byte as it was."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.replay.models import ReplayResult, ReplaySpec
from core.sources.files import import_files
from core.store import SCHEMA_VERSION, Store, StoreError
from tests.conftest import DEBATE_SESSION, FIXTURES
from tui.cli import cli


def _files(path: Path) -> dict[str, bytes]:
    """Every file of a store (main, -wal, -shm, -journal) and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


def _filled(path: Path) -> Path:
    with Store(path) as store:
        counts = import_files(store, sorted(FIXTURES.glob("*.json")))
        assert not counts.errors
    return path


def _cli(db: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--db", str(db), *args])


def _one_line_failure(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines() if hasattr(result, "stderr") else []
    text = result.output.strip()
    assert "Traceback" not in text
    assert len(lines or text.splitlines()) == 1, text
    return text


# -- files that are not reprise stores -----------------------------------------------------
def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "other-app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()
    before = _files(db)
    with pytest.raises(StoreError, match="not a reprise store"):
        Store(db)
    assert _files(db) == before  # no tables added, no WAL switch, no -wal file
    text = _one_line_failure(_cli(db, "sessions"))
    assert "not a reprise store" in text and _files(db) == before


def test_foreign_application_id_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE requests (id TEXT)")
    conn.commit()
    conn.close()
    before = _files(db)
    with pytest.raises(StoreError, match="not a reprise store"):
        Store(db)
    assert _files(db) == before


def test_text_file_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("just some text, not a database\n" * 10)
    before = _files(db)
    with pytest.raises(StoreError, match="not a SQLite database"):
        Store(db)
    assert _files(db) == before


def test_empty_file_becomes_a_new_store(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    db.touch()
    with Store(db) as store:
        assert store.list_sessions() == []
    with Store(db):  # and opens again as a reprise store
        pass


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_special_files_are_refused_without_hanging(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "store"
    if kind == "directory":
        db.mkdir()
    else:
        os.mkfifo(db)
    with pytest.raises(StoreError, match="not a file"):
        Store(db)


# -- newer stores ---------------------------------------------------------------------------
@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_newer_store_is_refused_without_writing_a_byte(tmp_path: Path, journal: str) -> None:
    db = _filled(tmp_path / "newer.db")
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for extra in tmp_path.glob("newer.db-*"):
        extra.unlink()
    before = _files(db)
    with pytest.raises(StoreError, match="newer reprise"):
        Store(db)
    assert _files(db) == before
    if journal == "delete":  # still a rollback-journal database: header bytes 18-19 are 1
        assert db.read_bytes()[18:20] == b"\x01\x01"
    _one_line_failure(_cli(db, "sessions"))
    assert _files(db) == before


def test_newer_store_made_before_application_id_is_refused(tmp_path: Path) -> None:
    db = _filled(tmp_path / "old-newer.db")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=delete")
    conn.execute("PRAGMA application_id = 0")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = _files(db)
    with pytest.raises(StoreError, match="newer reprise"):
        Store(db)
    assert _files(db) == before


# -- damaged copies -------------------------------------------------------------------------
def _damaged_copies(good: Path, tmp_path: Path) -> dict[str, Path]:
    data = good.read_bytes()
    page = 4096
    copies = {
        "truncated": data[: len(data) // 2],
        "zeroed-page-2": data[:page] + bytes(page) + data[2 * page :],
        "garbage-page-3": data[: 2 * page] + os.urandom(page) + data[3 * page :],
        "bad-header": data[:16] + b"\xff" * 84 + data[100:],
        "cut-in-header": data[:50],
    }
    paths = {}
    for name, content in copies.items():
        path = tmp_path / f"{name}.db"
        path.write_bytes(content)
        paths[name] = path
    return paths


def test_damaged_copies_give_one_line_errors(tmp_path: Path) -> None:
    good = _filled(tmp_path / "good.db")
    with sqlite3.connect(good) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for name, path in _damaged_copies(good, tmp_path).items():
        try:
            with Store(path) as store:
                for session in store.list_sessions():
                    for request in store.session_requests(session.id):
                        store.get_request(request.id)
                import_files(store, sorted(FIXTURES.glob("*.json")))
        except StoreError as exc:
            message = str(exc)
            assert "\n" not in message and str(path) in message, (name, message)
        result = _cli(path, "sessions")
        assert "Traceback" not in result.output, (name, result.output)
        if result.exit_code:
            _one_line_failure(result)


def test_damage_found_by_quick_check_on_open(tmp_path: Path) -> None:
    good = _filled(tmp_path / "good.db")
    with sqlite3.connect(good) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = _damaged_copies(good, tmp_path)["garbage-page-3"]
    with pytest.raises(StoreError, match="damaged.*recover"):
        Store(path)


# -- two writers ----------------------------------------------------------------------------
def _hold_write_lock(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_held_write_lock_gives_one_line_error_then_works(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    Store(db).close()
    holder = _hold_write_lock(db)
    files = sorted(FIXTURES.glob("*.json"))
    with Store(db, busy_timeout=0.2) as store:
        counts = import_files(store, files)
        assert counts.imported == 0
        assert counts.errors and all("locked by another process" in e for e in counts.errors)
        assert store.list_sessions() == []  # readers are never blocked (WAL)
        holder.execute("ROLLBACK")
        counts = import_files(store, files)
        assert not counts.errors and counts.imported == 4
    holder.close()


def test_writer_waits_for_a_short_lock(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    Store(db).close()
    holder = _hold_write_lock(db)
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    with Store(db, busy_timeout=10) as store:
        counts = import_files(store, sorted(FIXTURES.glob("*.json")))
    release.join()
    holder.close()
    assert not counts.errors and counts.imported == 4


def test_replay_result_waits_for_a_concurrent_import(tmp_path: Path) -> None:
    db = _filled(tmp_path / "two.db")
    with Store(db) as replaying, Store(db, busy_timeout=10) as other:
        replay = replaying.create_replay(ReplaySpec(session_id="s"))
        holder = _hold_write_lock(db)
        release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
        release.start()
        other.save_result(replay.id, ReplayResult(request_id="r", status="done"))
        release.join()
        holder.close()
        assert "r" in replaying.replay_results(replay.id)


def test_cli_locked_store_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "busy.db"
    Store(db).close()
    monkeypatch.setattr("core.store.BUSY_TIMEOUT_S", 0.1)
    monkeypatch.setattr(Store.__init__, "__kwdefaults__", {"busy_timeout": 0.1})
    holder = _hold_write_lock(db)
    try:
        result = _cli(db, "import", str(FIXTURES / "request-query-clickhouse.page.json"))
    finally:
        holder.close()
    assert result.exit_code == 1
    assert "locked by another process" in result.output and "Traceback" not in result.output


# -- a store deleted while in use ------------------------------------------------------------
def test_deleted_store_fails_writes_instead_of_losing_them(tmp_path: Path) -> None:
    db = _filled(tmp_path / "gone.db")
    with Store(db) as store:
        replay = store.create_replay(ReplaySpec(session_id="s"))
        for extra in tmp_path.glob("gone.db*"):
            extra.unlink()
        result = ReplayResult(request_id="r", status="done", finished_at=datetime.now(UTC))
        with pytest.raises(StoreError, match="deleted"):
            store.save_result(replay.id, result)
        with pytest.raises(StoreError, match="deleted"):
            store.finish_replay(replay.id, "done")
        counts = import_files(store, sorted(FIXTURES.glob("*.json")))
        assert counts.imported == 0 and all("deleted" in e for e in counts.errors)


def test_replaced_store_is_noticed(tmp_path: Path) -> None:
    db = _filled(tmp_path / "swap.db")
    with Store(db) as store:
        shutil.copy(db, tmp_path / "copy.db")
        os.replace(tmp_path / "copy.db", db)
        with pytest.raises(StoreError, match="deleted or replaced"):
            store.create_replay(ReplaySpec(session_id="s"))


# -- a full disk ----------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 400 KiB tmpfs when the machine allows mounting (root), else None."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)],
        capture_output=True,
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _big_export(tmp_path: Path, rows: int) -> Path:
    import json

    page = json.loads((FIXTURES / "request-query-clickhouse.page.json").read_text())
    template = page["data"][0]
    path = tmp_path / "big.jsonl"
    with path.open("w") as handle:
        for index in range(rows):
            row = {**template, "request_id": f"00000000-0000-4000-8000-{index:012d}"}
            row["request_body"] = {**row["request_body"], "filler": "x" * 2000}
            handle.write(json.dumps(row) + "\n")
    return path


def test_disk_full_is_a_failure_and_the_store_stays_whole(tmp_path: Path, small_disk) -> None:  # type: ignore[no-untyped-def]
    export = _big_export(tmp_path, 400)
    if small_disk is not None:  # a real full disk: a small tmpfs
        db = small_disk / "store.db"
        store = Store(db)
    else:  # no mount permission: SQLite's page limit gives the same SQLITE_FULL
        db = tmp_path / "store.db"
        store = Store(db)
        store.execute("PRAGMA max_page_count = 60")
    with store:
        small = tmp_path / "small.json"
        small.write_text((FIXTURES / "request-query-clickhouse.page.json").read_text())
        counts = import_files(store, [export, small])
        assert any("disk is full" in e for e in counts.errors), counts.errors
        assert all("\n" not in e for e in counts.errors)
        # The failed file left nothing behind; the later small file still imported.
        assert store.execute("SELECT COUNT(*) FROM requests WHERE id LIKE '00000000-%'")[0][0] == 0
        assert counts.imported == 4  # the page holds four requests
    result = _cli(db, "import", str(export))
    assert result.exit_code == 1 and "Traceback" not in result.output


# -- the app --------------------------------------------------------------------------------
async def test_app_reports_a_store_deleted_under_a_replay(tmp_path: Path) -> None:
    from tests.servers import FakeProvider
    from tests.test_app import SIZE, debate_requests
    from tui.app import RepriseApp
    from tui.config import Config, ReplayDefaults

    db = tmp_path / "app.db"
    store = Store(db)
    store.upsert_requests(debate_requests())
    with FakeProvider() as server:
        config = Config(replay=ReplayDefaults(target="base_url", base_url=server.base_url + "/v1"))
        app = RepriseApp(store, config, start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("r")
            await pilot.pause()
            for extra in tmp_path.glob("app.db*"):
                extra.unlink()
            await pilot.press("ctrl+s")
            for _ in range(40):
                await pilot.pause(0.05)
                if app._notifications:
                    break
            messages = [n.message for n in app._notifications]
            assert any("deleted or replaced" in m for m in messages), messages
            assert app.is_running
    store.close()


def test_resume_is_refused_while_another_process_runs_the_replay(tmp_path: Path) -> None:
    import asyncio

    from core.replay.engine import run_replay

    db = _filled(tmp_path / "resume.db")
    other = subprocess.Popen(["sleep", "60"])
    try:
        with Store(db) as store:
            replay = store.create_replay(ReplaySpec(session_id=DEBATE_SESSION))
            store.execute("UPDATE replays SET owner_pid = ? WHERE id = ?", (other.pid, replay.id))
            with pytest.raises(ValueError, match=f"still running in process {other.pid}"):
                asyncio.run(run_replay(store, replay.spec, resume_id=replay.id))
            result = _cli(db, "replay", "--resume", replay.id)
            assert result.exit_code == 1 and "still running in process" in result.output
            assert store.get_replay(replay.id).status == "running"
            other.kill()
            other.wait()
            assert store.get_replay(replay.id).status == "interrupted"
            assert store.claim_replay(replay.id, other.pid)  # the owner is gone: take it over
            assert store.execute("SELECT owner_pid FROM replays WHERE id = ?",
                                 (replay.id,))[0][0] == os.getpid()
    finally:
        other.kill()
        other.wait()

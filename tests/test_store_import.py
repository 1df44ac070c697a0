"""The SQLite store and the file importers, on real files."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from core.models import LoggedRequest
from core.sources.files import import_files
from core.store import SCHEMA_VERSION, Store
from tests.conftest import DEBATE_SESSION, FIXTURES, load_fixture


def test_fixture_import_gives_one_session_with_full_bodies(fixture_store: Store) -> None:
    sessions = fixture_store.list_sessions()
    assert [s.id for s in sessions] == [DEBATE_SESSION]
    session = sessions[0]
    assert session.name == "Debate" and session.requests == 4
    assert session.duration_s == pytest.approx(10.349)
    requests = fixture_store.session_requests(DEBATE_SESSION, bodies=True)
    assert all(r.body_state == "full" for r in requests)
    legacy = fixture_store.get_request("b2f8d4e3-6a75-4c9b-8d1e-2f3a4b5c6d72")
    # The legacy row added its request URL without erasing the full inline body.
    assert legacy.request_url == "https://oai.helicone.ai/v1/chat/completions"
    assert legacy.response_body["object"] == "chat.completion.chunk"


def test_import_is_idempotent(store: Store, fixture_files: list[Path]) -> None:
    first = import_files(store, fixture_files)
    second = import_files(store, fixture_files)
    assert first.imported == 4
    assert second.imported == 0
    assert sum(s.requests for s in store.list_sessions()) == 4
    assert store.count_sessions() == 1


def test_newer_row_wins_and_older_is_skipped(store: Store) -> None:
    row = load_fixture("request-query-clickhouse.page.json")["data"][0]
    store.upsert_requests([LoggedRequest.from_helicone_row(row)])
    newer = {**row, "response_created_at": "2025-03-14T17:02:09.000Z", "response_status": 500}
    older = {**row, "response_created_at": "2025-03-14T17:02:07.000Z", "response_status": 404}
    assert store.upsert_requests([LoggedRequest.from_helicone_row(newer)]).updated == 1
    assert store.upsert_requests([LoggedRequest.from_helicone_row(older)]).skipped == 1
    assert store.get_request(row["request_id"]).status == 500


def test_jsonl_gz_and_page_and_signed_body_by_id(store: Store, tmp_path: Path) -> None:
    page = load_fixture("request-query-clickhouse.page.json")
    jsonl = tmp_path / "export.jsonl.gz"
    with gzip.open(jsonl, "wt") as handle:
        for row in page["data"]:
            handle.write(json.dumps(row) + "\n")
    body = {
        **load_fixture("signed-body.anthropic.json"),
        "request_id": "a1e7c3d2-5f64-4b8a-9c0d-1e2f3a4b5c61",
    }
    signed = tmp_path / "bodies.json"
    signed.write_text(json.dumps([body]))
    counts = import_files(store, [jsonl, signed])
    assert counts.errors == []
    assert counts.imported == 4
    request = store.get_request("a1e7c3d2-5f64-4b8a-9c0d-1e2f3a4b5c61")
    assert request.body_state == "full" and request.request_body["max_tokens"] == 300


def test_bad_input_names_file_and_line_and_keeps_good_rows(store: Store, tmp_path: Path) -> None:
    good = load_fixture("request-query-clickhouse.page.json")["data"][0]
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_text(
        json.dumps(good)
        + "\n{not json\n"
        + json.dumps({"request_created_at": "2025-01-01"})
        + "\n"
        + json.dumps({**good, "request_id": "r2", "delay_ms": "slow"})
        + "\n"
    )
    broken = tmp_path / "broken.json"
    broken.write_text('[{"request_id": "x",\n  "oops"]')
    wrong = tmp_path / "wrong.json"
    wrong.write_text('"just a string"')
    empty = tmp_path / "empty.json"
    empty.write_text("")
    missing = tmp_path / "nope.json"
    counts = import_files(store, [jsonl, broken, wrong, empty, missing])
    assert counts.imported == 1
    errors = "\n".join(counts.errors)
    assert f"{jsonl}:2: invalid JSON" in errors
    assert f"{jsonl}:3: missing request_id" in errors
    assert f"{jsonl}:4: delay_ms: not a number" in errors
    assert f"{broken}:2:" in errors and "invalid JSON" in errors
    assert f"{wrong}: not a Helicone export" in errors
    assert f"{empty}: file is empty" in errors
    assert f"{missing}:" in errors
    assert len(counts.errors) == 7


def test_failed_write_leaves_store_untouched(store: Store) -> None:
    good = LoggedRequest.from_helicone_row(
        load_fixture("request-query-clickhouse.page.json")["data"][0]
    )

    def rows():
        yield good
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.upsert_requests(rows())
    assert store.get_request(good.id) is None
    assert store.count_sessions() == 0


def test_unmatched_signed_body_is_reported(store: Store, tmp_path: Path) -> None:
    lone = tmp_path / "body.json"
    lone.write_text((FIXTURES / "signed-body.anthropic.json").read_text())
    counts = import_files(store, [lone])
    assert counts.errors and "cannot tell which request" in counts.errors[0]


def test_store_file_is_private_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "store.db"
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer reprise"):
        Store(path)


def test_session_list_search_and_sort(tmp_path: Path) -> None:
    from core.demo import demo_store_copy

    with Store(demo_store_copy(tmp_path)) as store:
        names = [s.name for s in store.list_sessions()]
        assert names[0] == "AI Debate" and len(names) == 10
        assert [s.name for s in store.list_sessions("climate")] == ["AI Debate"]
        assert [s.name for s in store.list_sessions("claude")] == ["Support Triage"]
        assert [s.name for s in store.list_sessions("/agent/search")] == ["Research Agent"]
        by_requests = store.list_sessions(sort="requests", descending=True, limit=1)
        assert by_requests[0].requests >= 500
        assert len(store.list_sessions(limit=2, offset=9)) == 1
        assert store.count_sessions("debate") == 1


def test_session_source_is_kept_across_imports(store: Store) -> None:
    rows = load_fixture("request-query-clickhouse.page.json")["data"]
    store.upsert_requests([LoggedRequest.from_helicone_row(rows[0])], source="helicone")
    assert store.list_sessions()[0].source == "helicone"
    store.upsert_requests([LoggedRequest.from_helicone_row(rows[1])])
    assert store.list_sessions()[0].source == "helicone"


def test_schema_v1_store_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    from core.store import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[1].split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(replays)")}
        assert "owner_pid" in columns


def test_fifty_megabyte_export_imports_with_one_bad_line(store: Store, tmp_path: Path) -> None:
    template = load_fixture("request-query-clickhouse.page.json")["data"][0]
    padding = "x" * 4000
    path = tmp_path / "big.jsonl"
    bad_line = 6001
    with path.open("w") as handle:
        for index in range(1, 12_001):
            if index == bad_line:
                handle.write('{"request_id": "broken",\n')
                continue
            row = {
                **template,
                "request_id": f"req-{index}",
                "request_properties": {
                    **template["request_properties"],
                    "Helicone-Session-Id": f"s-{index % 100}",
                },
                "response_body": {**template["response_body"], "padding": padding},
            }
            handle.write(json.dumps(row) + "\n")
    assert path.stat().st_size > 50_000_000
    counts = import_files(store, [path])
    assert counts.imported == 11_999
    assert counts.errors == [
        f"{path}:{bad_line}: invalid JSON (Expecting property name enclosed in double quotes"
        " at column 25)"
    ]
    assert store.count_sessions() == 100


def test_out_of_range_numbers_are_row_errors(tmp_path: Path) -> None:
    from tests.test_cli import run

    good = load_fixture("request-query-clickhouse.page.json")["data"][0]
    bad_rows = [
        {**good, "request_id": "tokens-inf", "prompt_tokens": "inf"},
        {**good, "request_id": "cost-inf", "cost": "1e999"},
        {**good, "request_id": "latency-nan", "delay_ms": "nan"},
        {**good, "request_id": "tokens-wide", "total_tokens": 10**30},
        {**good, "request_id": "time-huge", "request_created_at": 1e30},
        {**good, "request_id": "time-edge", "request_created_at": "0001-01-01T00:00:00+14:00"},
    ]
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps([good, *bad_rows]))
    db = tmp_path / "numbers.db"
    code, out, err = run(db, "import", str(path), "--json")
    assert code == 2 and "Traceback" not in err
    report = json.loads(out)
    assert report["imported"] == 1
    assert [e.split(":")[2].strip() for e in report["errors"]] == [
        f"row {n}" for n in range(2, 8)
    ]
    code, out, _ = run(db, "sessions", "--json")
    assert code == 0 and json.loads(out)[0]["cost"] == good["cost"]


def test_json_nested_too_deeply_is_reported_not_raised(store: Store, tmp_path: Path) -> None:
    good = load_fixture("request-query-clickhouse.page.json")["data"][0]
    deep = "[" * 100_000 + "]" * 100_000
    array = tmp_path / "deep.json"
    array.write_text(deep)
    lines = tmp_path / "deep.jsonl"
    lines.write_text(json.dumps(good) + "\n" + '{"request_id": ' + deep + "}\n")
    counts = import_files(store, [array, lines])
    assert counts.imported == 1
    assert counts.errors == [
        f"{array}:1: row 1: invalid JSON (nested too deeply)",
        f"{lines}:2: invalid JSON (nested too deeply)",
    ]

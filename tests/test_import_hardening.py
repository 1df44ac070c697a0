"""Hostile and unlucky input files: each bad row costs that row only, with `FILE:LINE: …`;
each bad file costs that file only; nothing ever raises."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from pathlib import Path

import pytest

from core.models import MAX_DEPTH
from core.sources.files import import_files
from core.store import Store
from tests.conftest import load_fixture
from tests.test_cli import run

ROWS = load_fixture("request-query-clickhouse.page.json")["data"]
GOOD = ROWS[0]
LOCATED = re.compile(r"^[^\n]+:\d+: [^\n]+$")


def _row(request_id: str, **changes: object) -> dict:
    return {**GOOD, "request_id": request_id, **changes}


def _ids(store: Store) -> set[str]:
    return {row[0] for row in store.execute("SELECT id FROM requests")}


def _jsonl(tmp_path: Path, name: str, lines: list[bytes], sep: bytes = b"\n") -> Path:
    path = tmp_path / name
    path.write_bytes(sep.join(lines) + sep)
    return path


def _dump(row: object) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode()


def test_bad_numbers_surrogates_and_times_cost_one_row_each(store: Store, tmp_path: Path) -> None:
    lines = [
        _dump(_row("ok-1")),
        # an integer literal over Python's 4,300-digit limit, inside the body
        _dump(_row("x-digits", request_body={"model": "m", "messages": [], "seed": 1}))
        .replace(b'"seed": 1', b'"seed": ' + b"9" * 5000),
        _dump(_row("x-surrogate", request_body={"model": "m", "messages": [{"content": "S"}]}))
        .replace(b'"S"', b'"\\ud800"'),
        _dump(_row("x-time", request_created_at=1)).replace(b'"request_created_at": 1',
                                                           b'"request_created_at": 1' + b"0" * 400),
        _dump(_row("x-tokens", prompt_tokens=-5)),
        _dump(_row("x-tokens-text", completion_tokens="ten")),
        _dump(_row("x-tokens-frac", total_tokens=1.5)),
        _dump(_row("x-tokens-wide", total_tokens=2**64)),
        _dump(_row("x-inf", cost=1)).replace(b'"cost": 1', b'"cost": 1e999'),
        _dump(_row("x-nan", delay_ms=1)).replace(b'"delay_ms": 1', b'"delay_ms": NaN'),
        _dump(_row("ok-2")),
    ]
    path = _jsonl(tmp_path, "numbers.jsonl", lines)
    counts = import_files(store, [path])
    assert _ids(store) == {"ok-1", "ok-2"}
    assert len(counts.errors) == len(lines) - 2, counts.errors
    assert all(LOCATED.match(e) for e in counts.errors), counts.errors
    assert [int(e.split(":")[1]) for e in counts.errors] == list(range(2, len(lines)))


def test_huge_token_sums_do_not_overflow_the_session(store: Store, tmp_path: Path) -> None:
    big = 2**63 - 10
    path = tmp_path / "sum.json"
    path.write_text(json.dumps([_row("a", total_tokens=big), _row("b", total_tokens=big)]))
    counts = import_files(store, [path])
    assert counts.errors == [] and counts.imported == 2
    assert store.list_sessions()[0].total_tokens > 2**62


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085"])
def test_line_separators_inside_strings_never_split_rows(
    store: Store, tmp_path: Path, char: str
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": f"one{char}two"}]}
    lines = [_dump(_row(f"r{i}", request_body=body)) for i in range(3)]
    counts = import_files(store, [_jsonl(tmp_path, "seps.jsonl", lines)])
    assert counts.errors == [] and counts.imported == 3
    stored = store.get_request("r1").request_body["messages"][0]["content"]
    assert stored == f"one{char}two"


@pytest.mark.parametrize("sep", [b"\r", b"\r\n", b"\n"])
def test_line_endings_and_a_bom_on_every_line(store: Store, tmp_path: Path, sep: bytes) -> None:
    lines = [b"\xef\xbb\xbf" + _dump(_row(f"r{i}")) for i in range(4)]
    counts = import_files(store, [_jsonl(tmp_path, "bom.jsonl", lines, sep)])
    assert counts.errors == [] and counts.imported == 4


def test_one_bad_byte_costs_one_line(store: Store, tmp_path: Path) -> None:
    lines = [_dump(_row(f"r{i}")) for i in range(5)]
    lines[2] = lines[2].replace(b'"request_id"', b'"request\xff_id"')
    path = _jsonl(tmp_path, "byte.jsonl", lines)
    counts = import_files(store, [path])
    assert _ids(store) == {"r0", "r1", "r3", "r4"}
    assert len(counts.errors) == 1
    assert re.fullmatch(rf"{re.escape(str(path))}:3: not UTF-8 text \(byte \d+ of the line\)",
                        counts.errors[0])


def test_bad_byte_inside_an_array_costs_that_row(store: Store, tmp_path: Path) -> None:
    rows = [_dump(_row(f"r{i}")) for i in range(3)]
    rows[1] = rows[1].replace(b'"r1"', b'"r\xfe1"')
    path = tmp_path / "array.json"
    path.write_bytes(b"[\n" + b",\n".join(rows) + b"\n]")
    counts = import_files(store, [path])
    assert _ids(store) == {"r0", "r2"}
    assert len(counts.errors) == 1 and counts.errors[0].startswith(f"{path}:3: row 2: id")


def test_over_deep_rows_are_rejected_per_row(store: Store, tmp_path: Path) -> None:
    nested: object = "leaf"
    for _ in range(MAX_DEPTH + 5):
        nested = [nested]
    lines = [
        _dump(_row("ok-1")),
        _dump(_row("deep", request_body={"model": "m", "messages": [], "x": nested})),
        b'{"request_id": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        _dump(_row("ok-2")),
    ]
    path = _jsonl(tmp_path, "deep.jsonl", lines)
    counts = import_files(store, [path])
    assert _ids(store) == {"ok-1", "ok-2"}
    assert counts.errors[0].startswith(f"{path}:2: request_body: x")
    assert f"nested deeper than {MAX_DEPTH} levels" in counts.errors[0]
    assert counts.errors[1] == f"{path}:3: invalid JSON (nested too deeply)"


def test_broken_row_in_an_array_keeps_the_rows_after_it(store: Store, tmp_path: Path) -> None:
    rows = [_dump(_row(f"r{i}")).decode() for i in range(4)]
    rows[1] = rows[1][: len(rows[1]) // 2]  # cut mid-row: no closing brace
    path = tmp_path / "cut.json"
    path.write_text("[\n" + ",\n".join(rows) + "\n]\n")
    counts = import_files(store, [path])
    assert _ids(store) == {"r0", "r2", "r3"}
    assert len(counts.errors) == 1 and "row 2: invalid JSON" in counts.errors[0]


def test_page_with_a_broken_row_keeps_the_others(store: Store, tmp_path: Path) -> None:
    rows = [_dump(_row(f"r{i}")).decode() for i in range(3)]
    rows[1] = rows[1].replace('"request_id"', '"request_id" "oops"', 1)
    path = tmp_path / "page.json"
    path.write_text('{"data": [\n' + ",\n".join(rows) + '\n], "error": null}')
    counts = import_files(store, [path])
    assert _ids(store) == {"r0", "r2"}
    assert len(counts.errors) == 1 and LOCATED.match(counts.errors[0])


# -- compressed and special files -------------------------------------------------------------
def test_gzip_bomb_is_refused_without_inflating_it(store: Store, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        handle.write(_dump(_row("r0")) + b"\n")
        block = b" " * (1 << 20)
        for _ in range(300):  # 300 MB of spaces, about 300 KB compressed
            handle.write(block)
    counts = import_files(store, [bomb])
    assert counts.imported == 0
    assert counts.errors == [counts.errors[0]] and "possible gzip bomb" in counts.errors[0]


@pytest.mark.parametrize("damage", ["flip", "truncate", "trailing"])
def test_corrupt_gzip_is_one_line(store: Store, tmp_path: Path, damage: str) -> None:
    data = bytearray(gzip.compress(b"\n".join(_dump(_row(f"r{i}")) for i in range(50))))
    if damage == "flip":
        for offset in range(20, 60):
            data[offset] ^= 0x5A
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data += b"\x1f\x8bgarbage"
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(data))
    later = tmp_path / "later.json"
    later.write_text(json.dumps([_row("later")]))
    counts = import_files(store, [path, later])
    assert "later" in _ids(store)
    bad = [e for e in counts.errors if e.startswith(str(path))]
    assert bad and all("\n" not in e for e in bad)
    if damage != "trailing":
        assert _ids(store) == {"later"}
        assert bad == [bad[0]] and "corrupt gzip data" in bad[0]


def test_special_files_are_refused_without_hanging(store: Store, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    good = tmp_path / "good.json"
    good.write_text(json.dumps([_row("r0")]))
    paths = [fifo, folder, Path("/dev/null"), tmp_path / "missing.json", good]
    result: list = []
    worker = threading.Thread(target=lambda: result.append(import_files(store, paths)))
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "import hung on a special file"
    counts = result[0]
    assert counts.imported == 1
    assert counts.errors == [
        f"{fifo}: is a FIFO, not a file",
        f"{folder}: is a directory, not a file",
        "/dev/null: is a device or special file, not a file",
        f"{tmp_path / 'missing.json'}: No such file or directory",
    ]


# -- transactions and merge rules ------------------------------------------------------------
def test_rows_and_signed_bodies_land_together(store: Store, tmp_path: Path) -> None:
    preview = _row(
        "with-body",
        request_body="Argue for climate action.",
        response_body="Climate action matters.",
        signed_body_url="https://s3.example/body",
    )
    signed = {
        "request_id": "with-body",
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Argue."}]},
        "response": {"choices": [{"message": {"role": "assistant", "content": "Yes."}}]},
    }
    path = tmp_path / "both.jsonl"
    path.write_text(json.dumps(preview) + "\n" + json.dumps(signed) + "\n")
    counts = import_files(store, [path])
    assert counts.errors == [] and counts.imported == 1 and counts.updated == 1
    stored = store.get_request("with-body")
    assert stored.body_state == "full" and stored.request_body["messages"][0]["content"] == "Argue."


def test_newer_thin_row_never_blocks_an_older_full_body(store: Store, tmp_path: Path) -> None:
    full = _row("same", response_created_at="2025-03-14T17:02:06.000Z", response_status=200)
    newer_preview = _row(
        "same",
        response_created_at="2025-03-14T17:09:00.000Z",
        request_body="preview text",
        response_body="preview answer",
        response_status=201,
    )
    newer_placeholder = _row(
        "same",
        response_created_at="2025-03-14T17:10:00.000Z",
        request_body={"helicone_message": "stored elsewhere"},
        response_body={"helicone_message": "stored elsewhere"},
        response_status=None,
    )
    thin = tmp_path / "thin.json"
    thin.write_text(json.dumps([newer_preview, newer_placeholder]))
    rich = tmp_path / "full.json"
    rich.write_text(json.dumps([full]))
    counts = import_files(store, [thin, rich])
    assert counts.errors == []
    stored = store.get_request("same")
    assert stored.body_state == "full"
    assert stored.request_body == GOOD["request_body"]
    assert stored.status == 201  # the newer row's known values are kept


def test_a_failing_file_never_stops_later_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([_row("r0"), {"no": "id"}]))
    db = tmp_path / "cli.db"
    code, out, err = run(db, "import", str(bad), str(rows), "--json")
    report = json.loads(out)
    assert code == 2 and report["imported"] == 1 and len(report["errors"]) == 2
    assert all(LOCATED.match(e) for e in report["errors"]) and "Traceback" not in err
    # exit codes: 0 all imported, 2 some rows rejected, 1 nothing imported
    assert run(db, "import", str(rows), "--json")[0] == 2
    good = tmp_path / "good.json"
    good.write_text(json.dumps([_row("r9")]))
    assert run(db, "import", str(good))[0] == 0
    assert run(db, "import", str(bad))[0] == 1

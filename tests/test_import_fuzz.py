"""Property-based fuzzing of the importer on a fixed budget (derandomized, no deadline).

Three sources of damage: random JSON in place of any field of a real Helicone row, byte-level
corruption of real exports (JSONL, arrays, pages), and gzip variants of both. For every
example: no exception escapes, every error is one located line, every row that is valid on
its own is imported from every file holding it, a file reported as failed leaves the store as
it was, and whatever was imported can be shown, planned and put in a tree.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.formats import detect_format
from core.models import LoggedRequest, RowError
from core.parsing import loads
from core.replay.models import ReplaySpec
from core.replay.plan import plan_replay
from core.sources.files import import_files
from core.store import Store
from core.tree import build_tree
from tests.conftest import FIXTURES

# CI runs a fixed, derandomized budget; REPRISE_FUZZ_EXAMPLES=2000 digs deeper locally
# (REPRISE_FUZZ_RANDOM=1 also varies the examples from run to run).
BUDGET = settings(
    max_examples=int(os.environ.get("REPRISE_FUZZ_EXAMPLES", "40")),
    derandomize=not os.environ.get("REPRISE_FUZZ_RANDOM"),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ROWS: list[dict[str, Any]] = [
    *json.loads((FIXTURES / "request-query-clickhouse.page.json").read_text())["data"],
    *json.loads((FIXTURES / "request-query-legacy.page.json").read_text())["data"],
]
FIELDS = sorted({key for row in ROWS for key in row})
# Where random JSON goes: every top-level field, and the places inside a row readers look at.
PATHS: list[tuple[str, ...]] = [
    *[(field,) for field in FIELDS],
    ("request_properties", "Helicone-Session-Id"),
    ("request_properties", "Helicone-Session-Path"),
    ("request_properties", "Helicone-Prompt-Id"),
    ("request_body", "messages"),
    ("request_body", "model"),
    ("response_body", "choices"),
    ("response_body", "usage"),
]
LINE_ERROR = re.compile(r"^[^\n]+?:\d+: [^\n]+$")
FILE_ERROR = re.compile(r"^[^\n]+?: [^\n]+$")

# Text with the characters that broke importers: separators, BOM, controls, lone surrogates.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\u2028", "\u2029", "\u0085", "\ufeff", "\r", "\n", "\x00", "\ud800"]),
    ),
    max_size=12,
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([2**63, -1, 0, 1.5, 10**30]),
)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)
    ),
    max_leaves=8,
)
# Literals json.dumps cannot make: a 5,000-digit integer, 1e999, a deep array.
RAW_LITERALS = st.sampled_from(
    ["9" * 5000, "-" + "9" * 4400, "1e999", "NaN", "[" * 3000 + "]" * 3000, '"\\udc80"']
)


def _row_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def _good_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for index in range(count):
        row = copy.deepcopy(ROWS[index % len(ROWS)])
        row["request_id"] = _row_id(index)
        rows.append(row)
    return rows


def _set(row: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = row
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value


def _encode(rows: list[bytes], shape: str) -> bytes:
    if shape == "jsonl":
        return b"\n".join(rows) + b"\n"
    array = b"[\n" + b",\n".join(rows) + b"\n]"
    return array if shape == "array" else b'{"data": ' + array + b', "error": null}'


def _dump(row: Any) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _valid_alone(raw: bytes) -> str | None:
    """The request id when this row, alone, is one reprise accepts; else None."""
    try:
        value = loads(raw.decode("utf-8"))
        return LoggedRequest.from_helicone_row(value).id
    except (ValueError, RecursionError, RowError):
        return None


def _snapshot(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.execute("SELECT * FROM requests ORDER BY id")]


def _check_readers(store: Store) -> None:
    """Everything imported can be shown, planned and put in a tree."""
    for session in store.list_sessions():
        requests = store.session_requests(session.id, bodies=True)
        build_tree(requests).to_json()
        plan_replay(requests, ReplaySpec(session_id=session.id))
    for (request_id,) in store.execute("SELECT id FROM requests"):
        request = store.get_request(request_id)
        fmt = detect_format(request.request_body, request.provider, request.target_url)
        if fmt is not None:
            fmt.messages(request.request_body)
            fmt.output(request.response_body)
        request.model_dump(mode="json")


def _import(files: list[tuple[str, bytes]], expect: set[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, data in files:
            path = Path(folder) / name
            path.write_bytes(data)
            paths.append(path)
        with Store(Path(folder) / "fuzz.db") as store:
            counts = import_files(store, paths)
            for error in counts.errors:
                assert LINE_ERROR.match(error) or FILE_ERROR.match(error), error
                assert "unexpected error" not in error, error
            stored = {row[0] for row in store.execute("SELECT id FROM requests")}
            missing = expect - stored
            assert not missing, (missing, counts.errors)
            _check_readers(store)


@BUDGET
@given(
    path=st.sampled_from(PATHS),
    value=JSON,
    raw=st.one_of(st.none(), RAW_LITERALS),
    shape=st.sampled_from(["jsonl", "array", "page"]),
    position=st.integers(min_value=0, max_value=4),
    gz=st.booleans(),
)
def test_random_json_in_any_field(
    path: tuple[str, ...], value: Any, raw: str | None, shape: str, position: int, gz: bool
) -> None:
    rows = _good_rows(5)
    odd = copy.deepcopy(rows[position])
    _set(odd, path, "\x00RAW\x00" if raw is not None else value)
    odd_raw = _dump(odd)
    if raw is not None:
        odd_raw = odd_raw.replace(b'"\\u0000RAW\\u0000"', raw.encode())
    encoded = [odd_raw if n == position else _dump(row) for n, row in enumerate(rows)]
    expect = {_row_id(n) for n in range(5) if n != position}
    if (valid := _valid_alone(odd_raw)) is not None:
        expect.add(valid)
    data = _encode(encoded, shape)
    later = ("later.json", _encode([_dump({**rows[0], "request_id": "later-file"})], "array"))
    _import(
        [("odd.json.gz" if gz else "odd.json", gzip.compress(data) if gz else data), later],
        expect | {"later-file"},
    )


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "delete", "insert", "truncate"]),
        st.integers(min_value=0, max_value=10**6),
        st.sampled_from(
            [b"\xff", b"\x00", b"\r", b"\n", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b'"', b"{", b"]",
             b",", b"\\", b"\xc2\x85", b"\x80"]
        ),
    ),
    min_size=1,
    max_size=4,
)


def _mutate(line: bytes, mutations: list[tuple[str, int, bytes]]) -> bytes:
    data = bytearray(line)
    for kind, where, payload in mutations:
        if not data:
            break
        at = where % len(data)
        if kind == "flip":
            data[at] ^= 0x5A
        elif kind == "delete":
            del data[at : at + 1 + where % 7]
        elif kind == "insert":
            data[at:at] = payload
        else:
            del data[at:]
    return bytes(data)


@BUDGET
@given(
    mutations=MUTATIONS,
    target=st.integers(min_value=0, max_value=5),
    shape=st.sampled_from(["jsonl", "array", "page"]),
    sep=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bom=st.booleans(),
)
def test_byte_corruption_of_real_exports(
    mutations: list[tuple[str, int, bytes]], target: int, shape: str, sep: bytes, bom: bool
) -> None:
    rows = [_dump(row) for row in _good_rows(6)]
    damaged = _mutate(rows[target], mutations)
    encoded = [damaged if n == target else row for n, row in enumerate(rows)]
    if shape == "jsonl":
        data = sep.join((b"\xef\xbb\xbf" if bom else b"") + row for row in encoded) + sep
    else:
        data = _encode(encoded, shape)
    expect = {_row_id(n) for n in range(6) if n != target}
    _import([("export.json", data)], expect)


@BUDGET
@given(
    mutations=MUTATIONS,
    shape=st.sampled_from(["jsonl", "array"]),
)
def test_corrupt_compressed_files_fail_alone_and_leave_the_store(
    mutations: list[tuple[str, int, bytes]], shape: str
) -> None:
    rows = [_dump(row) for row in _good_rows(4)]
    compressed = gzip.compress(_encode(rows, shape))
    damaged = _mutate(compressed, mutations)
    later = _encode([_dump({**_good_rows(1)[0], "request_id": "later-file"})], "array")
    with tempfile.TemporaryDirectory() as folder:
        bad, good = Path(folder) / "export.jsonl.gz", Path(folder) / "later.json"
        bad.write_bytes(damaged)
        good.write_bytes(later)
        with Store(Path(folder) / "fuzz.db") as store:
            before = _snapshot(store)
            counts = import_files(store, [bad])
            failed = [e for e in counts.errors if FILE_ERROR.match(e) and not LINE_ERROR.match(e)]
            if failed and counts.imported == 0 and counts.updated == 0:
                assert _snapshot(store) == before  # a failed file changed nothing
            assert all("\n" not in e and "unexpected error" not in e for e in counts.errors)
            import_files(store, [good])
            assert store.get_request("later-file") is not None
            _check_readers(store)

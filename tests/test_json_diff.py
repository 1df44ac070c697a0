"""Structural JSON diff: changes by JSON path, for answers and tool-call arguments."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from core.json_diff import (
    JsonChange,
    format_change,
    json_changes,
    parse_json_answer,
    structural_result,
)

RECORDS = {"items": [{"id": i % 50, "score": i % 7, "tags": ["x"]} for i in range(40)]}


def _lines(a: object, b: object) -> list[str]:
    changes = json_changes(a, b)
    assert changes is not None
    return [format_change(c) for c in changes]


def test_changed_value_is_one_line_by_path() -> None:
    b = json.loads(json.dumps(RECORDS))
    b["items"][12]["score"] = 6
    assert _lines(RECORDS, b) == ["$.items[12].score: 5 → 6"]


def test_added_and_removed_keys_and_elements() -> None:
    b = json.loads(json.dumps(RECORDS))
    del b["items"][3]
    b["items"].insert(0, {"id": 99})
    b["items"][20]["tags"].append("z")
    b["meta"] = {"n": 1}
    b["items"][30].pop("tags")
    assert _lines(RECORDS, b) == [
        '+ $.items[0]: {"id": 99}',
        '- $.items[3]: {"id": 3, "score": 3, "tags": ["x"]}',
        '+ $.items[20].tags[1]: "z"',
        '- $.items[30].tags: ["x"]',
        '+ $.meta: {"n": 1}',
    ]


def test_keys_that_are_not_identifiers_are_quoted() -> None:
    assert _lines({"a b": 1, "ok": {"é": True}}, {"a b": 2, "ok": {"é": False}}) == [
        '$["a b"]: 1 → 2',
        "$.ok.é: true → false",
    ]
    assert _lines({"k": "1"}, {"k": 1}) == ['$.k: "1" → 1']
    assert _lines({"k": 1}, {"k": 1.0}) == ["$.k: 1 → 1.0"]
    assert _lines({"k": True}, {"k": 1}) == ["$.k: true → 1"]
    assert _lines(json.loads('{"k": NaN}'), json.loads('{"k": NaN}')) == []


def test_tool_call_arguments_are_compared_as_json() -> None:
    call_a = {"name": "search", "arguments": '{"query": "cats", "limit": 5}'}
    call_b = {"arguments": '{"limit": 10, "query": "cats"}', "name": "search"}
    assert _lines([call_a], [call_b]) == ["$[0].arguments.limit: 5 → 10"]
    assert _lines({"arguments": "{not json"}, {"arguments": "{not json"}) == []


def test_parse_json_answer() -> None:
    assert parse_json_answer('{"a": 1}') == (True, {"a": 1})
    assert parse_json_answer("  [1, 2]\n") == (True, [1, 2])
    assert parse_json_answer('```json\n{"a": [1]}\n```\n') == (True, {"a": [1]})
    assert parse_json_answer("```\n[true]\n```") == (True, [True])
    assert parse_json_answer("Here you go:\n```json\n{}\n```") == (False, None)
    assert parse_json_answer("42") == (False, None)
    assert parse_json_answer('"text"') == (False, None)
    assert parse_json_answer("{broken") == (False, None)
    assert parse_json_answer("[" * 100_000 + "]" * 100_000) == (False, None)


def test_too_deep_values_give_none_not_a_traceback() -> None:
    deep: list[object] = []
    cur = deep
    for _ in range(5_000):
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    assert json_changes(deep, [1]) is None


def test_structural_result_reads_as_a_diff() -> None:
    changes = [
        JsonChange("changed", "$.a", 1, 2),
        JsonChange("added", "$.b", new="x"),
        JsonChange("removed", "$.c", old=[1]),
    ]
    result = structural_result(changes)
    assert result.a_text == "$.a: 1\n$.b: \n$.c: [1]\n"
    assert result.b_text == '$.a: 2\n$.b: "x"\n$.c: \n'
    assert (result.added_words, result.removed_words, result.changed_regions) == (2, 2, 3)
    assert structural_result([]).ops[0].tag == "equal"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["a", "b", "c d"]),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.sampled_from(["id", "x", "y z", "tags"]), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(JSON, JSON)
def test_no_changes_iff_equal(a: object, b: object) -> None:
    changes = json_changes(a, b)
    assert changes is not None
    assert (changes == []) == (json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True))
    assert json_changes(a, a) == []
    structural_result(changes)  # never raises

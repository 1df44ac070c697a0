"""The word diff stays near-minimal on repetitive and structured text.

Families of generated texts (JSON with repeated keys and values, Markdown tables, log
lines, code with repeated lines, numbered lists, small-vocabulary prose with repeated
fenced blocks, plain prose) get sparse edits (≤ 10 % of tokens). The number of changed
tokens the diff reports is checked against the exact minimum computed independently
(rapidfuzz's Indel distance over the same non-whitespace tokens), and the ops must
rebuild both inputs byte for byte.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import Indel

from core.diff import DiffResult, diff_texts
from tests.diff_families import FAMILIES, json_800_records, keys, make, vocab_fences

BOUND = 1.10


def _ids(a: list[str], b: list[str]) -> tuple[list[int], list[int]]:
    table: dict[str, int] = {}
    return [table.setdefault(x, len(table)) for x in a], [table.setdefault(y, len(table)) for y in b]


def minimum_changed(a: str, b: str) -> int:
    """Fewest deleted + inserted non-whitespace tokens turning a into b (exact LCS)."""
    ka, kb = _ids(keys(a), keys(b))
    return Indel.distance(ka, kb)


def reported_changed(result: DiffResult) -> int:
    """Changed tokens as the ops show them (and as the counts claim)."""
    removed = sum(len(keys(op.a_text)) for op in result.ops if op.tag != "equal")
    added = sum(len(keys(op.b_text)) for op in result.ops if op.tag != "equal")
    assert (removed, added) == (result.removed_words, result.added_words)
    return removed + added


def _check(a: str, b: str) -> tuple[int, int]:
    result = diff_texts(a, b)
    assert result.a_text == a and result.b_text == b
    for op in result.ops:
        assert op.tag != "equal" or op.a_text == op.b_text
    changed, minimum = reported_changed(result), minimum_changed(a, b)
    assert changed >= minimum
    assert changed <= BOUND * minimum, (changed, minimum)
    return changed, minimum


@settings(max_examples=160, deadline=None, derandomize=True)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    size=st.integers(40, 400),
    fraction=st.sampled_from([0.01, 0.03, 0.05, 0.08, 0.1]),
    seed=st.integers(0, 2**32 - 1),
)
def test_sparse_edits_stay_near_minimal(family: str, size: int, fraction: float, seed: int) -> None:
    a, b = make(family, size, fraction, seed)
    _check(a, b)


def test_json_records_with_changed_values_are_not_a_rewrite() -> None:
    # 100 records {"id": i % 50, "label", "score", "tags"}, 4 % of the values changed
    a, b = json_800_records(seed=3, records=100)
    changed, minimum = _check(a, b)
    assert minimum < len(keys(a)) // 10


def test_small_vocabulary_prose_with_identical_fences() -> None:
    a, b = vocab_fences(seed=5, words=2_000)
    _check(a, b)


def test_indented_json_and_fenced_blocks_keep_their_lines() -> None:
    a, b = make("json-indented", 600, 0.05, 11)
    result = diff_texts(a, b)
    # every change is a value: no change spans a line break
    assert all("\n" not in op.a_text + op.b_text for op in result.ops if op.tag != "equal")


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    token=st.sampled_from(["x", "{", "the", "|"]),
    other=st.sampled_from(["y", "}", "a", "-"]),
    size=st.integers(1, 300),
    edits=st.lists(st.tuples(st.integers(0, 299), st.booleans()), max_size=6),
)
def test_adversarial_repetition_rebuilds(
    token: str, other: str, size: int, edits: list[tuple[int, bool]]
) -> None:
    """All-identical and two alternating tokens: nothing to anchor on, still exact."""
    for words in ([token] * size, [token if k % 2 else other for k in range(size)]):
        changed = list(words)
        for pos, insert in edits:
            pos %= len(changed) or 1
            if insert:
                changed.insert(pos, other)
            elif changed:
                changed[pos] = other if changed[pos] == token else token
        a, b = " ".join(words), " ".join(changed)
        result = diff_texts(a, b)
        assert result.a_text == a and result.b_text == b
        assert reported_changed(result) >= minimum_changed(a, b)

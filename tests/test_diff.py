"""Word diff: exact rebuild of both texts, clean results, JSON diffs and `reprise diff`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from core.diff import DiffOp, DiffResult, diff_json, diff_texts, similarity, tokenize

WORDS = ["the", "a", "model", "reply", "code", "```", "def", "x", "=", "é", "日本", "\x1b[31m"]
PIECES = st.sampled_from(
    WORDS + [" ", "  ", "\n", "\n\n", "\t", "\r\n", ",", ".", "[bold]", "[/]", "\x00", "\u202e"]
)
TEXT = st.lists(PIECES, max_size=60).map("".join) | st.text(max_size=80)


def _rebuilds(result: DiffResult, a: str, b: str) -> None:
    assert "".join(op.a_text for op in result.ops) == a
    assert "".join(op.b_text for op in result.ops) == b
    for op in result.ops:
        assert op.tag in ("equal", "insert", "delete", "replace")
        if op.tag == "equal":
            assert op.a_text == op.b_text and op.a_text
        elif op.tag == "insert":
            assert not op.a_text and op.b_text
        elif op.tag == "delete":
            assert op.a_text and not op.b_text
        else:
            assert op.a_text and op.b_text
    # no two adjacent ops of the same kind: runs are merged
    tags = [op.tag == "equal" for op in result.ops]
    assert all(x != y for x, y in zip(tags, tags[1:], strict=False))


@given(TEXT)
def test_tokenize_rebuilds(text: str) -> None:
    assert "".join(tokenize(text)) == text


@given(TEXT, TEXT)
@settings(max_examples=300)
def test_diff_rebuilds_both_inputs(a: str, b: str) -> None:
    result = diff_texts(a, b)
    _rebuilds(result, a, b)
    assert 0.0 <= result.similarity <= 1.0
    assert result.changed == (a != b)


@given(TEXT, st.lists(st.tuples(st.integers(0, 80), st.sampled_from(WORDS + [" ", "\n"]))))
def test_edited_text_rebuilds(a: str, edits: list[tuple[int, str]]) -> None:
    b = a
    for pos, word in edits:
        b = b[:pos] + word + b[pos + 1 :]
    _rebuilds(diff_texts(a, b), a, b)


@given(TEXT)
def test_identical_inputs_have_no_changes(text: str) -> None:
    result = diff_texts(text, text)
    assert not result.changed
    assert result.similarity == 1.0
    assert result.added_words == result.removed_words == result.changed_regions == 0
    assert all(op.tag == "equal" for op in result.ops)


def test_tokenize_splits_words_punctuation_and_whitespace() -> None:
    assert tokenize("Hi, you  there!\n  x_y=1") == [
        "Hi",
        ",",
        " ",
        "you",
        "  ",
        "there",
        "!",
        "\n",
        "  ",
        "x_y",
        "=",
        "1",
    ]


def test_small_edit_is_word_level() -> None:
    result = diff_texts("The quick brown fox jumps.", "The quick red fox jumps.")
    assert result.ops == [
        DiffOp("equal", "The quick ", "The quick "),
        DiffOp("replace", "brown", "red"),
        DiffOp("equal", " fox jumps.", " fox jumps."),
    ]
    assert result.added_words == result.removed_words == 1
    assert result.kept_words == 5
    assert result.changed_regions == 1
    assert result.similarity == round(10 / 12, 6)


def test_completely_different_texts_are_one_clean_replace() -> None:
    a = "The model answered with a short list of steps to follow."
    b = "Nothing here resembles it: entirely new words appear instead!"
    result = diff_texts(a, b)
    assert [op.tag for op in result.ops] == ["replace"]
    assert result.similarity == 0.0


def test_rewrite_sharing_common_words_is_not_confetti() -> None:
    a = "I think the answer is to use a cache for the results of the query."
    b = "Honestly the best option would be dropping the index and rebuilding it from the log."
    result = diff_texts(a, b)
    assert result.changed_regions == 1


def test_insert_and_delete_and_empty_sides() -> None:
    assert diff_texts("", "hello").ops == [DiffOp("insert", "", "hello")]
    assert diff_texts("hello", "").ops == [DiffOp("delete", "hello", "")]
    assert diff_texts("", "").ops == []
    assert diff_texts("", "").similarity == 1.0
    result = diff_texts("one two three", "one two and a half three")
    assert result.ops[1] == DiffOp("insert", "", "and a half ")
    assert result.added_words == 3


def test_whitespace_only_change_is_reported() -> None:
    result = diff_texts("a b\r\nc", "a  b\nc")
    assert result.changed
    assert result.added_words == result.removed_words == 0
    assert result.similarity < 1.0 or result.kept_words == 3


def test_markdown_code_fences_stay_aligned() -> None:
    a = (
        "Here is the fix:\n\n```python\ndef add(x, y):\n    return x + y\n```\n\n"
        "It adds two numbers.\n"
    )
    b = (
        "Here is the fix:\n\n```python\ndef add(x, y, z=0):\n    return x + y + z\n```\n\n"
        "It adds up to three numbers.\n"
    )
    result = diff_texts(a, b)
    _rebuilds(result, a, b)
    changed = [op for op in result.ops if op.tag != "equal"]
    assert all("```" not in op.a_text + op.b_text for op in changed)
    assert all("def" not in op.a_text for op in changed)
    assert [op.b_text for op in changed] == [", z=0", " + z", "up to three"]
    assert result.removed_words == 1 and result.added_words == 9


def test_long_texts_stay_fast_and_exact() -> None:
    para = " ".join(f"word{i % 97} the of and {i}" for i in range(3000))
    a = "\n\n".join(para[i : i + 400] for i in range(0, len(para), 400))
    b = a.replace("word5 ", "WORD5 ").replace(" of and 7", " of 7")
    result = diff_texts(a, b)
    _rebuilds(result, a, b)
    assert 0.9 < result.similarity < 1.0


def test_similarity_helper() -> None:
    assert similarity("same text", "same text") == 1.0
    assert similarity("alpha beta", "gamma delta") == 0.0
    assert 0 < similarity("alpha beta gamma", "alpha beta delta") < 1


def test_json_dict_shape() -> None:
    result = diff_texts("a b", "a c")
    data = result.to_json_dict()
    assert set(data) == {"similarity", "added_words", "removed_words", "ops"}
    assert data["ops"] == [["equal", "a ", "a "], ["replace", "b", "c"]]
    json.dumps(data)


def test_diff_json_sorts_keys_and_parses_arguments() -> None:
    call_a = {"name": "search", "arguments": '{"query": "cats", "limit": 5}'}
    call_b = {"arguments": '{"limit": 10, "query": "cats"}', "name": "search"}
    result = diff_json(call_a, call_b)
    assert result.ops[1] == DiffOp("replace", "5", "10")
    assert '"limit"' in result.ops[0].a_text
    assert result.added_words == result.removed_words == 1
    assert not diff_json({"b": 1, "a": 2}, '{"a": 2, "b": 1}').changed
    # strings that are not JSON stay strings
    assert not diff_json({"arguments": "{not json"}, {"arguments": "{not json"}).changed
    assert diff_json("plain", "plain2").changed


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_cli_json_rebuilds_files_byte_for_byte(tmp_path: Path) -> None:
    from tui.cli import cli

    raw_a = b"line one\r\nthe [bold]old[/bold] \x1b[31mred\x1b[0m text\r\n"
    raw_b = b"line one\r\nthe [bold]new[/bold] \x1b[31mred\x1b[0m text\n"
    a, b = _write(tmp_path, "a.txt", raw_a), _write(tmp_path, "b.txt", raw_b)
    result = CliRunner().invoke(cli, ["diff", a, b, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"similarity", "added_words", "removed_words", "ops"}
    assert "".join(op[1] for op in data["ops"]).encode() == raw_a
    assert "".join(op[2] for op in data["ops"]).encode() == raw_b
    assert {op[0] for op in data["ops"]} <= {"equal", "insert", "delete", "replace"}


def test_cli_renders_inline_and_side_by_side(tmp_path: Path) -> None:
    from tui.cli import cli

    a = _write(tmp_path, "a.txt", b"keep [red]this[/red] old\n")
    b = _write(tmp_path, "b.txt", b"keep [red]this[/red] new\n")
    runner = CliRunner()
    inline = runner.invoke(cli, ["diff", a, b])
    assert inline.exit_code == 0, inline.output
    assert "[red]this[/red]" in inline.output
    assert "old" in inline.output and "new" in inline.output
    assert "similarity" in inline.output
    side = runner.invoke(cli, ["diff", a, b, "--side-by-side"])
    assert side.exit_code == 0, side.output
    assert "old" in side.output and "new" in side.output


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    from tui.cli import cli

    good = _write(tmp_path, "a.txt", b"text")
    bad = _write(tmp_path, "bad.txt", b"\xff\xfe broken")
    runner = CliRunner()
    missing = runner.invoke(cli, ["diff", good, str(tmp_path / "nope.txt")])
    assert missing.exit_code != 0
    assert missing.stderr.strip().count("\n") == 0 and "nope.txt" in missing.stderr
    not_utf8 = runner.invoke(cli, ["diff", good, bad])
    assert not_utf8.exit_code != 0
    assert "UTF-8" in not_utf8.stderr and not_utf8.stderr.strip().count("\n") == 0

"""Rendering is literal: markup, escape sequences and control characters never style text."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from core.diff import diff_texts
from core.render import (
    DiffLayout,
    DiffStyles,
    render_changes_only,
    render_inline,
    render_screen,
    render_side_by_side,
    wrap_offsets,
)
from core.text import literal

NASTY = st.sampled_from(
    [
        "[bold]",
        "[/]",
        "[red]x[/red]",
        "[link=http://x]",
        ":smile:",
        "\x1b[31m",
        "\x1b]8;;http://x\x1b\\",
        "\r",
        "\x00",
        "\x07",
        "\x9b",
        "\u202e",
        "word",
        " ",
        "\n",
        "\t",
        "日本",
    ]
)
TEXT = st.lists(NASTY, max_size=25).map("".join)
CONTROL = (
    {chr(c) for c in range(0x20) if chr(c) not in "\n\t"}
    | {"\x7f"}
    | {chr(c) for c in range(0x80, 0xA0)}
)
ALLOWED = {
    str(s) for s in (DiffStyles().style(n) for n in ("equal", "deleted", "inserted", "marker"))
}


def _check_literal(text_obj: object) -> None:
    from rich.text import Text

    assert isinstance(text_obj, Text)
    assert not (set(text_obj.plain) & CONTROL)
    for span in text_obj.spans:
        assert str(span.style) in ALLOWED


@given(TEXT, TEXT)
def test_renders_never_interpret_content(a: str, b: str) -> None:
    result = diff_texts(a, b)
    _check_literal(render_inline(result))
    _check_literal(render_changes_only(result, context_words=2))
    for left, right in render_side_by_side(result, 40):
        _check_literal(left)
        _check_literal(right)
        assert left.cell_len <= 18 and right.cell_len <= 18
    layout = DiffLayout(result, side_by_side=True)
    layout.set_width(41)
    for y in range(layout.row_count):
        _check_literal(layout.row(y))


@given(TEXT, TEXT)
def test_inline_shows_every_equal_and_changed_piece(a: str, b: str) -> None:
    result = diff_texts(a, b)
    plain = render_inline(result).plain
    for op in result.ops:
        if op.tag == "equal":
            assert literal(op.a_text) in plain


@given(TEXT)
def test_terminal_output_has_no_raw_escapes(a: str) -> None:
    result = diff_texts(a, a + " [bold]more[/bold] \x1b[2J")
    console = Console(file=io.StringIO(), width=60, color_system=None, force_terminal=False)
    console.print(render_inline(result))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b" not in out
    assert "[bold]more[/bold]" in out


def test_literal_makes_controls_visible() -> None:
    assert literal("a\x1b[31mb\r\n\t") == "a␛[31mb␍\n\t"
    assert literal("x\u200by\u2066z\U000e0041 \u200d") == "x\\u200by\\u2066z\\U000e0041 \u200d"
    assert literal("\x9b\u202e") == "\\x9b\\u202e"
    assert literal("x\ty", expand_tabs=True) == "x    y"


def test_inline_styles_and_theme_override() -> None:
    result = diff_texts("keep old", "keep new")
    text = render_inline(result)
    assert text.plain == "keep oldnew"
    styles = {text.plain[s.start : s.end]: str(s.style) for s in text.spans}
    assert "strike" in styles["old"] and "red" in styles["old"]
    assert "bold" in styles["new"] and "green" in styles["new"]
    themed = render_inline(result, {"diff.deleted": "underline magenta"})
    assert any(str(s.style) == "underline magenta" for s in themed.spans)


def test_whitespace_only_change_is_visible() -> None:
    text = render_inline(diff_texts("a b", "a  b"))
    assert "·" in text.plain


def test_side_by_side_aligns_lines() -> None:
    a = "same\nold line\nsame again\n"
    b = "same\nnew line\nadded\nsame again\n"
    rows = [(left.plain, right.plain) for left, right in render_side_by_side(diff_texts(a, b), 60)]
    assert rows[0] == ("same", "same")
    same_again = [r for r in rows if r[0] == "same again"]
    assert same_again and same_again[0][1] == "same again"
    assert ("", "added") in rows or any("added" in r[1] and r[0] == "" for r in rows)


def test_changes_only_keeps_context_short() -> None:
    words = " ".join(f"w{i}" for i in range(200))
    result = diff_texts(words, words.replace("w100 ", "CHANGED "))
    text = render_changes_only(result, context_words=3).plain
    assert "CHANGED" in text and "w100" in text
    assert "w50" not in text and "w150" not in text
    assert text.startswith("… ") and text.endswith(" …")
    assert render_changes_only(diff_texts("x", "x")).plain == "(no changes)"


def test_wrap_offsets() -> None:
    assert wrap_offsets("short", 10) == [0]
    assert wrap_offsets("aaa bbb ccc", 7) == [0, 8]
    assert wrap_offsets("abcdefghij", 4) == [0, 4, 8]
    assert wrap_offsets("日本語テキスト", 4) == [0, 2, 4, 6]


def test_render_screen_draws_one_screen() -> None:
    text = "\n".join(f"line {i}" for i in range(500))
    out = render_screen(diff_texts(text, text.replace("line 3\n", "line three\n")), 80, 10)
    assert out.count("\n") == 10

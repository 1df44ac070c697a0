"""Rich rendering of word diffs: inline, side by side, and changes only.

Content is always shown literally: text is appended to ``rich.text.Text`` with explicit
styles (never parsed as markup), and control characters or escape sequences in a response
are replaced by visible stand-ins, so a response can never restyle or corrupt the screen.
Long diffs are laid out lazily by ``DiffLayout`` so a viewer only draws what is visible.
"""

from __future__ import annotations

import io
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace

from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text

from core.diff import DiffResult, tokenize
from core.text import literal

__all__ = [
    "DiffLayout",
    "DiffStyles",
    "inline_lines",
    "render_changes_only",
    "render_inline",
    "render_screen",
    "render_side_by_side",
    "side_by_side_rows",
    "wrap_offsets",
]


@dataclass(frozen=True)
class DiffStyles:
    """Styles of a rendered diff; override any of them from a theme."""

    equal: str = ""
    deleted: str = "strike red on #3a1010"
    inserted: str = "bold green on #0f3318"
    marker: str = "dim"

    @classmethod
    def from_theme(cls, theme: Mapping[str, str] | DiffStyles | None) -> DiffStyles:
        """Defaults overridden by ``theme`` keys ``deleted``/``diff.deleted`` and so on."""
        if theme is None:
            return cls()
        if isinstance(theme, DiffStyles):
            return theme
        names = {f.name for f in fields(cls)}
        overrides = {}
        for key, value in theme.items():
            name = key.removeprefix("diff.").removeprefix("diff-")
            if name in names:
                overrides[name] = value
        return replace(cls(), **overrides)

    def style(self, name: str) -> Style:
        """Parsed (and cached by rich) style for one role."""
        return Style.parse(getattr(self, name))


# --------------------------------------------------------------------------- literal text


_WS_VISIBLE = {ord(" "): "·", ord("\t"): "→", ord("\n"): "↵\n", ord("\r"): "␍"}


def _changed(text: str, expand_tabs: bool) -> str:
    """A changed piece; whitespace-only changes get visible marks so they can be seen."""
    if text.isspace():
        text = text.translate(_WS_VISIBLE)
    return literal(text, expand_tabs=expand_tabs)


# --------------------------------------------------------------------------- inline


def render_inline(result: DiffResult, theme: Mapping[str, str] | DiffStyles | None = None) -> Text:
    """Whole diff as one Text: deletions struck through, insertions highlighted."""
    styles = DiffStyles.from_theme(theme)
    equal, deleted, inserted = (
        styles.style("equal"),
        styles.style("deleted"),
        styles.style("inserted"),
    )
    text = Text(end="")
    for op in result.ops:
        if op.tag == "equal":
            text.append(literal(op.a_text), equal)
            continue
        if op.a_text:
            text.append(_changed(op.a_text, False), deleted)
        if op.b_text:
            text.append(_changed(op.b_text, False), inserted)
    return text


Piece = tuple[str, Style]


class _Lines:
    """Logical lines being built from styled pieces that may contain newlines.

    A line is a list of ``(text, style)`` pieces (``None`` pads a side): far cheaper than
    building a ``Text`` per line, which is done only for the lines a viewer shows.
    """

    def __init__(self) -> None:
        self.lines: list[list[Piece] | None] = [[]]

    def add(self, text: str, style: Style) -> None:
        parts = text.split("\n")
        current = self.lines[-1]
        assert current is not None
        if parts[0]:
            current.append((parts[0], style))
        if len(parts) > 1:
            self.lines += [[(part, style)] if part else [] for part in parts[1:]]

    def newline(self) -> None:
        self.lines.append([])


def _plain(pieces: list[Piece] | None) -> str | None:
    if pieces is None:
        return None
    if len(pieces) == 1:
        return pieces[0][0]
    return "".join([part for part, _ in pieces])


def _line_text(pieces: list[Piece]) -> Text:
    text = Text(end="")
    for part, style in pieces:
        text.append(part, style)
    return text


def _text(pieces: list[Piece] | None) -> Text | None:
    return None if pieces is None else _line_text(pieces)


LinePair = tuple[list[Piece] | None, list[Piece] | None]


def _inline_batches(result: DiffResult, styles: DiffStyles) -> Iterator[list[LinePair]]:
    """Finished logical lines of the inline view, a batch after each op."""
    equal, deleted, inserted = (
        styles.style("equal"),
        styles.style("deleted"),
        styles.style("inserted"),
    )
    out = _Lines()
    for op in result.ops:
        if op.tag == "equal":
            out.add(literal(op.a_text, expand_tabs=True), equal)
        else:
            if op.a_text:
                out.add(_changed(op.a_text, True), deleted)
            if op.b_text:
                out.add(_changed(op.b_text, True), inserted)
        if len(out.lines) > 1:  # every line but the last is final
            done, out.lines = out.lines[:-1], out.lines[-1:]
            yield [(line, None) for line in done]
    yield [(line, None) for line in out.lines]


def _inline_pieces(result: DiffResult, styles: DiffStyles) -> list[list[Piece]]:
    return [line for batch in _inline_batches(result, styles) for line, _ in batch if line is not None]


def inline_lines(
    result: DiffResult, theme: Mapping[str, str] | DiffStyles | None = None
) -> list[Text]:
    """The inline view split into logical lines (tabs expanded) for line-based viewers."""
    return [_line_text(p) for p in _inline_pieces(result, DiffStyles.from_theme(theme))]


# --------------------------------------------------------------------------- side by side


def _side_batches(result: DiffResult, styles: DiffStyles) -> Iterator[list[LinePair]]:
    """Finished aligned line pairs of the side-by-side view, a batch after each op."""
    equal, deleted, inserted = (
        styles.style("equal"),
        styles.style("deleted"),
        styles.style("inserted"),
    )
    left, right = _Lines(), _Lines()
    for op in result.ops:
        if op.tag == "equal":
            parts = literal(op.a_text, expand_tabs=True).split("\n")
            if _at_line_start(left) and _at_line_start(right):
                _pad(left, right)
            if parts[0]:
                left.add(parts[0], equal)
                right.add(parts[0], equal)
            if len(parts) > 1:
                gap = len(right.lines) - len(left.lines)
                (left if gap > 0 else right).lines.extend([None] * abs(gap))
                # whole lines in between are shared by both sides: only a last line grows
                middle = [[(part, equal)] if part else [] for part in parts[1:-1]]
                last = parts[-1]
                left.lines += middle
                right.lines += middle
                left.lines.append([(last, equal)] if last else [])
                right.lines.append([(last, equal)] if last else [])
        else:
            if op.a_text:
                _add_side(left, _changed(op.a_text, True), deleted)
            if op.b_text:
                _add_side(right, _changed(op.b_text, True), inserted)
        # only the last line of a side can still change (padding, appending)
        final = min(len(left.lines), len(right.lines)) - 1
        if final > 0:
            done = list(zip(left.lines[:final], right.lines[:final], strict=True))
            left.lines, right.lines = left.lines[final:], right.lines[final:]
            yield done
    gap = len(right.lines) - len(left.lines)
    (left if gap > 0 else right).lines.extend([None] * abs(gap))
    yield list(zip(left.lines, right.lines, strict=True))


def _side_pieces(result: DiffResult, styles: DiffStyles) -> list[LinePair]:
    return [pair for batch in _side_batches(result, styles) for pair in batch]


def side_by_side_rows(
    result: DiffResult, theme: Mapping[str, str] | DiffStyles | None = None
) -> list[tuple[Text | None, Text | None]]:
    """Aligned logical lines: old text on the left, new on the right; None pads a side."""
    pairs = _side_pieces(result, DiffStyles.from_theme(theme))
    return [(_text(left), _text(right)) for left, right in pairs]


def _at_line_start(side: _Lines) -> bool:
    last = side.lines[-1]
    return last is not None and not last


def _pad(left: _Lines, right: _Lines) -> None:
    """Insert blank rows before the shorter side's empty current line."""
    gap = len(right.lines) - len(left.lines)
    if gap:
        short = left if gap > 0 else right
        short.lines[-1:] = [None] * abs(gap) + [[]]


def _add_side(side: _Lines, text: str, style: Style) -> None:
    if side.lines[-1] is None:  # a change after padding starts a fresh line
        side.lines[-1] = []
    side.add(text, style)


def render_side_by_side(
    result: DiffResult, width: int, theme: Mapping[str, str] | DiffStyles | None = None
) -> list[tuple[Text, Text]]:
    """Visual rows of two aligned columns, each wrapped to ``(width - 3) // 2`` cells."""
    column = max(1, (width - 3) // 2)
    rows: list[tuple[Text, Text]] = []
    for left, right in side_by_side_rows(result, theme):
        lparts = _wrap(left, column)
        rparts = _wrap(right, column)
        for k in range(max(len(lparts), len(rparts))):
            lt = lparts[k].copy() if k < len(lparts) else Text(end="")
            rt = rparts[k].copy() if k < len(rparts) else Text(end="")
            lt.truncate(column)
            rt.truncate(column)
            rows.append((lt, rt))
    return rows


# --------------------------------------------------------------------------- wrapping

_CHUNK_RE = re.compile(r"\s+|\S+")


def wrap_offsets(plain: str, width: int) -> list[int]:
    """Start offsets of the visual rows of one line, word-wrapped to ``width`` cells."""
    ascii_only = plain.isascii()
    if width <= 0 or (len(plain) if ascii_only else cell_len(plain)) <= width:
        return [0]
    if ascii_only and "\t" not in plain:
        return _wrap_ascii(plain, width)
    starts = [0]
    col = 0
    for m in _CHUNK_RE.finditer(plain):
        chunk = m.group()
        w = len(chunk) if ascii_only else cell_len(chunk)
        if col + w <= width:
            col += w
            continue
        if chunk[0].isspace():  # trailing spaces hang past the edge
            col = width
            continue
        if col and w <= width:  # move the word to the next row
            starts.append(m.start())
            col = w
            continue
        # a word longer than a row: split it by cells
        pos = m.start()
        if col:
            starts.append(pos)
            col = 0
        for ch in chunk:
            cw = 1 if ascii_only else cell_len(ch)
            if col + cw > width:
                starts.append(pos)
                col = 0
            col += cw
            pos += 1
    return starts


def _wrap_ascii(plain: str, width: int) -> list[int]:
    """``wrap_offsets`` for ASCII lines whose only whitespace is spaces, one step per row:
    a word that does not fit moves to the next row, spaces hang past the edge, a word
    longer than a row is cut."""
    starts = [0]
    start, size = 0, len(plain)
    while start + width < size:
        end = start + width
        if plain[end] == " ":  # the row is full; the spaces after it hang
            m = _NON_SPACE.search(plain, end)
            if m is None:
                break
            start = m.start()
        else:
            word = plain.rfind(" ", start, end) + 1  # where the word crossing the edge begins
            start = word if word > start else end
        starts.append(start)
    return starts


_NON_SPACE = re.compile(r"[^ ]")


def _wrap(line: Text | None, width: int) -> list[Text]:
    if line is None:
        return [Text(end="")]
    starts = wrap_offsets(line.plain, width)
    if len(starts) == 1:
        return [line]
    ends = [*starts[1:], len(line.plain)]
    return [line[s:e] for s, e in zip(starts, ends, strict=True)]


class DiffLayout:
    """Visual rows of a diff at one width, built as far as a viewer needs them.

    Logical lines are kept as styled pieces and produced op by op, so the first screen of
    a huge diff costs only what it shows; ``advance`` finishes the rest a slice at a time
    (``row_count`` is exact once ``complete``, ``estimated_rows`` sizes a scrollbar before).
    Wrapping works on plain text and is cached per width; a ``Text`` is built only for a
    row that is drawn.
    """

    def __init__(
        self,
        result: DiffResult,
        theme: Mapping[str, str] | DiffStyles | None = None,
        side_by_side: bool = False,
    ) -> None:
        self.result = result
        self.styles = DiffStyles.from_theme(theme)
        self.side_by_side = side_by_side
        batches = _side_batches if side_by_side else _inline_batches
        self._source: Iterator[list[LinePair]] | None = batches(result, self.styles)
        self._lines: list[LinePair] = []
        self._plain: list[tuple[str | None, str | None]] = []
        self._texts: dict[int, tuple[Text | None, Text | None]] = {}
        self._width = -1
        self._row_start: list[int] = [0]
        self._wraps: list[tuple[list[int], list[int]]] = []
        self._chars_done = 0
        both = 2 if side_by_side else 1  # equal text shows once inline, on both sides else
        self._chars_total = sum(
            len(op.a_text) * both if op.tag == "equal" else len(op.a_text) + len(op.b_text)
            for op in result.ops
        )

    @property
    def complete(self) -> bool:
        """True once every logical line is built and wrapped."""
        return self._source is None and len(self._wraps) == len(self._lines)

    def _pull(self, lines: int) -> None:
        """Build at least ``lines`` more logical lines (fewer at the end)."""
        want = len(self._lines) + lines
        while self._source is not None and len(self._lines) < want:
            batch = next(self._source, None)
            if batch is None:
                self._source = None
                break
            self._lines += batch
            for left, right in batch:
                pl, pr = _plain(left), _plain(right)
                self._plain.append((pl, pr))
                self._chars_done += len(pl or "") + len(pr or "") + 1

    def _wrap(self) -> None:
        """Wrap the built lines not wrapped yet at the current width."""
        wrap_width = self.column_width(self._width) if self.side_by_side else self._width
        row_start, wraps = self._row_start, self._wraps
        total = row_start[-1]
        one = [0]
        for left, right in self._plain[len(wraps) :]:
            lw = one if left is None or len(left) <= wrap_width and left.isascii() else (
                wrap_offsets(left, wrap_width)
            )
            rw = one if right is None or len(right) <= wrap_width and right.isascii() else (
                wrap_offsets(right, wrap_width)
            )
            wraps.append((lw, rw))
            total += max(len(lw), len(rw))
            row_start.append(total)

    def column_width(self, width: int) -> int:
        """Cells per side in side-by-side mode."""
        return max(1, (width - 3) // 2)

    def set_width(self, width: int, rows: int | None = None) -> int:
        """Wrap to ``width`` cells (cached per width) and return the rows laid out: all of
        them, or when ``rows`` is given at least that many (the rest comes later)."""
        width = max(1, width)
        if width != self._width:
            self._width = width
            self._row_start = [0]
            self._wraps = []
        self._wrap()
        while self._source is not None and (rows is None or self._row_start[-1] < rows):
            self._pull(32 if rows is not None else 1 << 30)
            self._wrap()
        return self._row_start[-1]

    def advance(self, lines: int = 1_000) -> bool:
        """Lay out up to ``lines`` more logical lines; True once the layout is complete."""
        if self._width < 1:
            return self.complete
        self._pull(lines)
        self._wrap()
        return self.complete

    @property
    def width(self) -> int:
        """Width the rows are currently wrapped to (-1 before the first layout)."""
        return self._width

    @property
    def row_count(self) -> int:
        """Rows laid out at the current width (all of them once ``complete``)."""
        return self._row_start[-1]

    def estimated_rows(self) -> int:
        """``row_count`` when complete, else a projection from the share of text laid out."""
        rows = self._row_start[-1]
        if self.complete or not self._chars_done:
            return rows
        share = min(1.0, self._chars_done / max(1, self._chars_total))
        return max(rows + 1, int(rows / share))

    def row(self, y: int) -> Text:
        """Visual row ``y`` as a Text at most the current width wide."""
        if y >= self._row_start[-1] and not self.complete and self._width > 0:
            self.set_width(self._width, y + 1)
        if y < 0 or y >= self._row_start[-1]:
            return Text(end="")
        index = bisect_right(self._row_start, y) - 1
        sub = y - self._row_start[index]
        left, right = self._logical_at(index)
        lw, rw = self._wraps[index]
        if not self.side_by_side:
            return _slice(left, lw, sub)
        column = self.column_width(self._width)
        marker = self.styles.style("marker")
        row = _slice(left, lw, sub)
        row.truncate(column, pad=True)
        row.append(" │ ", marker)
        row.append_text(_slice(right, rw, sub))
        return row

    def _logical_at(self, index: int) -> tuple[Text | None, Text | None]:
        """One logical line as Text, built on demand (a few hundred kept)."""
        got = self._texts.get(index)
        if got is None:
            left, right = self._lines[index]
            got = (_text(left), _text(right))
            if len(self._texts) > 512:
                self._texts.clear()
            self._texts[index] = got
        return got

    def plain_text(self) -> str:
        """All rows as plain text, for copying."""
        self.set_width(self._width if self._width > 0 else 80)
        return "\n".join(self.row(y).plain for y in range(self.row_count))


def _slice(line: Text | None, starts: list[int], sub: int) -> Text:
    if line is None or sub >= len(starts):
        return Text(end="")
    start = starts[sub]
    end = starts[sub + 1] if sub + 1 < len(starts) else len(line.plain)
    if start == 0 and end == len(line.plain):
        return line.copy()
    return line[start:end]


def render_screen(
    result: DiffResult, width: int = 120, height: int = 40, side_by_side: bool = False
) -> str:
    """Lay out a diff and draw its first screen to ANSI text (what a viewer pays to open)."""
    layout = DiffLayout(result, side_by_side=side_by_side)
    layout.set_width(width, rows=height)
    console = Console(
        width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor"
    )
    for y in range(min(height, layout.row_count)):
        console.print(layout.row(y), crop=True, no_wrap=True, overflow="crop")
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


# --------------------------------------------------------------------------- changes only


def _head(text: str, words: int) -> tuple[str, bool]:
    """Prefix of ``text`` holding its first ``words`` non-whitespace tokens."""
    seen = 0
    pos = 0
    for tok in tokenize(text):
        if not tok.isspace():
            if seen == words:
                return text[:pos].rstrip(" \t"), True
            seen += 1
        pos += len(tok)
    return text, False


def _tail(text: str, words: int) -> tuple[str, bool]:
    """Suffix of ``text`` holding its last ``words`` non-whitespace tokens."""
    seen = 0
    pos = len(text)
    for tok in reversed(tokenize(text)):
        if not tok.isspace():
            if seen == words:
                return text[pos:].lstrip(" \t"), True
            seen += 1
        pos -= len(tok)
    return text, False


def render_changes_only(
    result: DiffResult,
    context_words: int = 8,
    theme: Mapping[str, str] | DiffStyles | None = None,
) -> Text:
    """Only the changes, each with a few words of context; gaps are marked with ⋯."""
    styles = DiffStyles.from_theme(theme)
    equal, deleted, inserted = (
        styles.style("equal"),
        styles.style("deleted"),
        styles.style("inserted"),
    )
    marker = styles.style("marker")
    text = Text(end="")
    if not result.changed:
        text.append("(no changes)", marker)
        return text
    ops = result.ops
    last = len(ops) - 1
    for k, op in enumerate(ops):
        if op.tag != "equal":
            if op.a_text:
                text.append(_changed(op.a_text, False), deleted)
            if op.b_text:
                text.append(_changed(op.b_text, False), inserted)
            continue
        body = op.a_text
        if k == 0:
            tail, cut = _tail(body, context_words)
            if cut:
                text.append("… ", marker)
            text.append(literal(tail), equal)
        elif k == last:
            head, cut = _head(body, context_words)
            text.append(literal(head), equal)
            if cut:
                text.append(" …", marker)
        else:
            head, cut = _head(body, context_words)
            if not cut:
                text.append(literal(body), equal)
                continue
            tail, cut = _tail(body[len(head) :], context_words)
            text.append(literal(head), equal)
            if cut:
                text.append(" …\n⋯\n… ", marker)
            text.append(literal(tail), equal)
    return text

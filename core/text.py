"""Show untrusted text literally: the one rule for everything that came from a session.

Names, paths, prompts and responses arrive from imported files, Helicone and providers. A
terminal would act on some of their characters (escape sequences, carriage returns, C1
controls), bidirectional controls such as U+202E would visually reorder a line, and
zero-width characters can hide text. `literal` makes all of them visible and inert; the CLI,
the app and the diff renderers all go through it. Markup is never interpreted: pass the
result to `rich.text.Text(...)` (see `literal_text`), or through `escape_markup` where a
string is parsed as markup (notifications, titles).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text


def _control_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        if chr(code) not in "\n\t":
            table[code] = chr(0x2400 + code)  # control pictures: ␛ ␍ ␀ …
    table[0x7F] = "\u2421"  # ␡
    for code in range(0x80, 0xA0):
        table[code] = f"\\x{code:02x}"  # C1 (U+009B alone starts an escape sequence)
    for code in (0x2028, 0x2029):  # line and paragraph separators
        table[code] = f"\\u{code:04x}"
    for code in range(0xD800, 0xE000):  # a lone surrogate cannot be printed at all
        table[code] = "\ufffd"
    return table


_CONTROL = _control_table()
_CONTROL_TABS = {**_CONTROL, 9: "    "}
# Invisible formatting characters (Unicode category Cf) that can reorder or hide text: the
# soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width space, LRM/RLM, bidi
# embeddings/overrides/isolates, word joiner and invisible operators, the BOM, interlinear
# annotations, shorthand format controls, musical formatting and tag characters (which can
# smuggle whole hidden sentences). ZWNJ/ZWJ (U+200C/D) shape scripts and emoji: kept.
_FORMAT_RANGES = (
    (0x00AD, 0x00AD), (0x061C, 0x061C), (0x180E, 0x180E), (0x200B, 0x200B), (0x200E, 0x200F),
    (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)
_FORMAT = re.compile(
    "[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in _FORMAT_RANGES) + "]"
)


def _visible_format(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def literal(text: object, *, expand_tabs: bool = False) -> str:
    """`text` with control, bidi and invisible formatting characters made visible.

    ESC becomes ␛ (so ANSI sequences read as `␛[31m`), CR ␍, C1 controls `\\x9b`, bidi and
    zero-width characters `\\u202e`; newlines and tabs are kept (tabs become four spaces
    with `expand_tabs`). `None` reads as the empty string.
    """
    value = "" if text is None else text if isinstance(text, str) else str(text)
    value = value.translate(_CONTROL_TABS if expand_tabs else _CONTROL)
    if value.isascii():
        return value
    return _FORMAT.sub(_visible_format, value)


def literal_text(text: object, style: str = "") -> Text:
    """A rich `Text` holding `text` literally (markup is never parsed)."""
    from rich.text import Text

    return Text(literal(text), style=style)


def escape_markup(text: object) -> str:
    """`literal(text)` for a place that parses Textual markup: every `[` is escaped.

    Use it only where a markup string is required; prefer `literal_text` (or a widget's
    `markup=False`) wherever plain text is accepted.
    """
    return literal(text).replace("[", "\\[")


# Characters JSON may carry raw that a terminal would act on: DEL and C1 controls (U+009B
# starts an escape sequence on its own), line/paragraph separators and bidi overrides.
_TERMINAL_UNSAFE = {
    code: f"\\u{code:04x}"
    for code in [
        *range(0x7F, 0xA0),
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        *range(0xD800, 0xE000),  # lone surrogates: unprintable, kept as JSON escapes
    ]
}


def _json_default(value: Any) -> Any:
    """Timestamps in the one form reprise writes (core.parsing.format_time: UTC, `Z`), so
    every `--json` output agrees; anything else as its text."""
    if isinstance(value, datetime):
        from core.parsing import format_time

        return format_time(value)
    return str(value)


def dumps_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON that is safe to print: same document once parsed, no raw terminal controls."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=_json_default)
    text = text.translate(_TERMINAL_UNSAFE)
    if text.isascii():
        return text
    # Other invisible formatting characters, as JSON escapes (still the same document).
    return _FORMAT.sub(lambda m: json.dumps(m.group(0)).strip('"'), text)

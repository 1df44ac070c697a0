"""Show text from sessions literally: control characters become visible, never interpreted."""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\x1b":
        return "␛"
    if "\ud800" <= char <= "\udfff":  # a lone surrogate cannot be printed at all
        return "\ufffd"
    return f"\\x{ord(char):02x}"


def literal(text: str) -> str:
    """Replace control characters (ESC, CR, C1…) by visible stand-ins; keep newlines and tabs.

    Use with `rich.text.Text(...)` (never markup parsing) so `[bold]` stays literal too.
    """
    return _CONTROL.sub(_visible, text)


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


def dumps_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON that is safe to print: same document once parsed, no raw terminal controls."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    return text.translate(_TERMINAL_UNSAFE)

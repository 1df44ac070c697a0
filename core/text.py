"""Show text from sessions literally: control characters become visible, never interpreted."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\x1b":
        return "␛"
    return f"\\x{ord(char):02x}"


def literal(text: str) -> str:
    """Replace control characters (ESC, CR, C1…) by visible stand-ins; keep newlines and tabs.

    Use with `rich.text.Text(...)` (never markup parsing) so `[bold]` stays literal too.
    """
    return _CONTROL.sub(_visible, text)

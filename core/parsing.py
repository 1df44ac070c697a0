"""Lenient parsers for the values Helicone rows carry: numbers as strings, two timestamp forms."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

# SQLite stores integers as signed 64-bit; anything wider cannot be a real count or status.
_MAX_INT = 2**63 - 1


def parse_time(value: Any) -> datetime | None:
    """Parse ISO-8601 (`2025-03-14T17:02:06.020Z`) or ClickHouse (`2025-03-14 17:02:06.020`).

    Naive timestamps are taken as UTC; numbers are Unix seconds (or milliseconds when huge).
    Returns None for empty values; raises ValueError for text that is neither form.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"timestamp out of range: {_short(value)}") from None
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {_short(value)}")
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a timestamp: {_short(value)}") from None
    if not parsed.tzinfo:
        return parsed.replace(tzinfo=UTC)
    try:  # times are stored in UTC; an offset at the edge of the calendar has no UTC form
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp out of range: {_short(value)}") from None
    return parsed


def parse_float(value: Any) -> float | None:
    """A finite number that may arrive as a JSON string; empty and null mean unknown.

    NaN and infinities are refused: they are not valid JSON and no count or cost is infinite.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer wider than any float
            raise ValueError(f"number out of range: {_short(value)}") from None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"not a number: {_short(value)}") from None
    else:
        raise ValueError(f"not a number: {_short(value)}")
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {_short(value)}")
    return number


def parse_int(value: Any) -> int | None:
    """An integer (possibly sent as a string or a float) that fits a 64-bit column."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: int = value
    else:
        parsed = parse_float(value)
        if parsed is None:
            return None
        if not parsed.is_integer():
            raise ValueError(f"not a whole number: {_short(value)}")
        number = int(parsed)
    if abs(number) > _MAX_INT:
        raise ValueError(f"number out of range: {_short(value)}")
    return number


def format_time(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and a `Z`, the one form reprise writes."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _short(value: Any, limit: int = 60) -> str:
    """A value for an error message: one line, ASCII-escaped, cut to `limit` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if isinstance(value, str | int | float | bool) or value is None:
        text = ascii(value)
    else:
        text = repr(value) if isinstance(value, BadNumber) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- JSON from outside -------------------------------------------------------------------
# Numbers JSON allows but reprise cannot hold (a 5,000-digit integer, 1e999, NaN) become a
# BadNumber instead of an exception, so the one row holding it is refused, not the file.
MAX_NUMBER_CHARS = 100


class BadNumber:
    """A JSON number literal that is out of range; any row holding one is rejected."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        if len(self.text) > 24:
            return f"a number of {len(self.text)} characters ({self.text[:12]}…)"
        return f"the number {self.text}"


def _json_int(text: str) -> int | BadNumber:
    return int(text) if len(text) <= MAX_NUMBER_CHARS else BadNumber(text)


def _json_float(text: str) -> float | BadNumber:
    if len(text) > MAX_NUMBER_CHARS:
        return BadNumber(text)
    number = float(text)
    return number if math.isfinite(number) else BadNumber(text)


_DECODER = json.JSONDecoder(
    parse_int=_json_int, parse_float=_json_float, parse_constant=BadNumber
)


def loads(text: str) -> Any:
    """Parse JSON from outside: raises `json.JSONDecodeError` or `RecursionError` only."""
    return _DECODER.decode(text)


def raw_decode(text: str, index: int) -> tuple[Any, int]:
    """Parse one JSON value starting at `index`; returns it and the index after it."""
    return _DECODER.raw_decode(text, index)

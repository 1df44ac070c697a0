"""Lenient parsers for the values Helicone rows carry: numbers as strings, two timestamp forms."""

from __future__ import annotations

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
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"timestamp out of range: {value!r}") from None
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a timestamp: {value!r}") from None
    if not parsed.tzinfo:
        return parsed.replace(tzinfo=UTC)
    try:  # times are stored in UTC; an offset at the edge of the calendar has no UTC form
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp out of range: {value!r}") from None
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
            raise ValueError(f"number out of range: {value!r}") from None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise ValueError(f"not a number: {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def parse_int(value: Any) -> int | None:
    """An integer (possibly sent as a string or a float) that fits a 64-bit column."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: int = value
    else:
        parsed = parse_float(value)
        if parsed is None:
            return None
        number = int(parsed)
    if abs(number) > _MAX_INT:
        raise ValueError(f"number out of range: {value!r}")
    return number


def format_time(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and a `Z`, the one form reprise writes."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

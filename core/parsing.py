"""Lenient parsers for the values Helicone rows carry: numbers as strings, two timestamp forms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


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
        return datetime.fromtimestamp(seconds, tz=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a timestamp: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_float(value: Any) -> float | None:
    """A number that may arrive as a JSON string; empty and null mean unknown."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
    raise ValueError(f"not a number: {value!r}")


def parse_int(value: Any) -> int | None:
    number = parse_float(value)
    return None if number is None else int(number)


def format_time(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and a `Z`, the one form reprise writes."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

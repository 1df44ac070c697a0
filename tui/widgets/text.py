"""Short number and text formats for the app (literal display lives in core.text)."""

from __future__ import annotations


def short(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def money(cost: float | None) -> str:
    if cost is None:
        return "–"
    if cost == 0:
        return "$0"
    if cost < 0.0001:
        return f"${cost:.6f}".rstrip("0")
    if cost < 0.01:
        return f"${cost:.4f}"
    return f"${cost:.2f}"


def plural(count: int, noun: str) -> str:
    """`1 request`, `2 requests`, `1,234 requests`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"

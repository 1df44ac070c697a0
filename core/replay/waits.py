"""What a running replay is waiting for, and for how long: one reading for the CLI's progress
line and the app's status line, built from the engine's events."""

from __future__ import annotations

import time
from collections.abc import Mapping

from core.replay.models import ReplayEvent

_ENDS = frozenset({"finished", "failed", "skipped", "blocked", "cancelled"})


class Waits:
    """Requests in flight (or backing off before a retry) and since when."""

    def __init__(self) -> None:
        # (replay id, request id) -> (what, since): a matrix runs the same request in
        # several replays at once.
        self._open: dict[tuple[str, str], tuple[str, float]] = {}

    def feed(self, event: ReplayEvent, now: float | None = None) -> None:
        if event.request_id is None:
            return
        now = time.monotonic() if now is None else now
        key = (event.replay_id, event.request_id)
        if event.kind == "started":
            self._open[key] = (event.message or "waiting for an answer", now)
        elif event.kind == "retried":
            self._open[key] = (event.message or "waiting to retry", now)
        elif event.kind in _ENDS:
            self._open.pop(key, None)

    def describe(self, now: float | None = None, names: Mapping[str, str] | None = None) -> str:
        """`<request>: waiting for host (up to 600 s) · 12 s (+3 more)`, or "" when idle.

        `names`: request id -> its name by path (core.labels); else the id's start."""
        if not self._open:
            return ""
        now = time.monotonic() if now is None else now
        (_, request_id), (what, since) = min(self._open.items(), key=lambda item: item[1][1])
        more = f" (+{len(self._open) - 1} more)" if len(self._open) > 1 else ""
        name = (names or {}).get(request_id) or request_id[:12]
        return f"{name}: {what} · {now - since:.0f} s{more}"

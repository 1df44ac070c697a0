"""What a finished replay run says about itself in one line: throughput and the first failure.

Shared by the session screen's status line and notification.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from core.replay.status import FAILED
from core.text import literal

if TYPE_CHECKING:
    from core.replay.models import Replay, ReplayResult


def first_error(results: Iterable[ReplayResult], labels: Mapping[str, str]) -> str:
    """Why a replay failed, in one line: the first failed request (by path) and its error."""
    for result in results:
        if result.status in FAILED and result.error:
            name = labels.get(result.request_id, "a request")
            return literal(f"{name}: {' '.join(result.error.split())}")[:160]
    return ""


def replay_speed(replay: Replay, results: Iterable[ReplayResult],
                 started: datetime | None = None) -> str:
    """` · 16.6 s · 72 tok/s`: this run's wall time and the target's measured throughput.

    Measured from `started` (the run this screen began, so a resumed replay does not count
    the pause) and over the results that finished in that run.
    """
    if replay.finished_at is None:
        return ""
    began = started or replay.created_at
    wall = (replay.finished_at - began).total_seconds()
    if wall <= 0:
        return ""
    tokens = sum(
        r.completion_tokens or 0
        for r in results
        if r.finished_at is None or r.finished_at >= began
    )
    # No-break spaces: a wrapped status line never leaves `tok/s` alone on a line.
    rate = f" · {tokens / wall:.0f}\u00a0tok/s" if tokens else ""
    return f" · {wall:.1f}\u00a0s{rate}"

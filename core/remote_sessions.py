"""A session list paged from a remote source (Helicone), loaded only as far as it is read.

The sessions table asks for rows by offset; asking past the loaded pages is what requests
the next page, so scrolling drives the listing and nothing is fetched that is never shown.
While pages remain, the count is one more than the loaded rows: reaching that row loads more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # no pydantic on the path to the first frame
    from core.models import SessionSummary

SORT_VALUES: dict[str, Callable[[SessionSummary], Any]] = {
    "name": lambda s: (s.name or "").lower(),
    "id": lambda s: s.id,
    "started_at": lambda s: s.started_at,
    "requests": lambda s: s.requests,
    "duration": lambda s: s.duration_s,
    "cost": lambda s: s.cost,
    "replays": lambda s: s.replays,
}


class RemoteListing:
    """The pages of one listing (one search): rows, count, and whether more are wanted."""

    def __init__(self, search: str = "") -> None:
        self.search = search
        self.sessions: list[SessionSummary] = []
        self.done = False
        self.wants_more = False  # the table asked for rows past the loaded pages
        self._ids: set[str] = set()

    def add_page(self, sessions: Iterable[SessionSummary], *, done: bool = False) -> None:
        """A page arrived (a session seen on an earlier page is kept once)."""
        for session in sessions:
            if session.id not in self._ids:
                self._ids.add(session.id)
                self.sessions.append(session)
        self.done = self.done or done
        self.wants_more = False

    def count(self) -> int:
        return len(self.sessions) + (0 if self.done else 1)

    def rows(self, offset: int, limit: int, sort: str = "started_at",
             descending: bool = True) -> list[SessionSummary]:
        """Loaded rows in the table's order; asking past them marks the next page wanted."""
        if offset + limit > len(self.sessions) and not self.done:
            self.wants_more = True
        key = SORT_VALUES.get(sort, SORT_VALUES["started_at"])
        known = [s for s in self.sessions if key(s) is not None]
        unknown = [s for s in self.sessions if key(s) is None]  # last in either direction
        return (sorted(known, key=key, reverse=descending) + unknown)[offset:offset + limit]

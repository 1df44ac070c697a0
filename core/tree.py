"""The session tree by path, as Helicone's web UI builds it (API contract §7).

Folders are created per path segment in first-seen order; each request is a leaf inside the
folder of its full path, in start order, so requests sharing a path are all kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from core.models import LoggedRequest, normalize_path

# Folders deeper than this are folded into one named after the rest of the path (its name
# keeps the slashes), so a path of thousands of segments still shows and serializes.
MAX_TREE_DEPTH = 48


@dataclass
class TreeFolder:
    name: str
    path: str
    requests: list[LoggedRequest] = field(default_factory=list)
    children: list[TreeFolder] = field(default_factory=list)
    # Folders and leaves interleaved in first-seen order, as the tree is displayed.
    entries: list[TreeFolder | LoggedRequest] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    count: int = 0  # requests in this folder and below

    @property
    def latency_s(self) -> float:
        """Last response end minus first request start, over every descendant."""
        if self.start is None or self.end is None:
            return 0.0
        return max(0.0, (self.end - self.start).total_seconds())

    def walk(self) -> Iterator[TreeFolder]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "path": self.path,
            "requests": [r.id for r in self.requests],
            "children": [child.to_json() for child in self.children],
        }


def build_tree(requests: Iterable[LoggedRequest]) -> TreeFolder:
    """Build the path tree; input order does not matter (requests are sorted by start)."""
    ordered = sorted(requests, key=lambda r: (r.created_at, r.id))
    root = TreeFolder(name="", path="/")
    folders: dict[str, TreeFolder] = {"": root}
    for request in ordered:
        segments = _segments(request.session_path)
        chain = [root]
        key = ""
        for segment in segments:
            key = f"{key}/{segment}"
            folder = folders.get(key)
            if folder is None:
                folder = TreeFolder(name=segment, path=key)
                folders[key] = folder
                chain[-1].children.append(folder)
                chain[-1].entries.append(folder)
            chain.append(folder)
        chain[-1].requests.append(request)
        chain[-1].entries.append(request)
        end = request.ended_at
        for folder in chain:
            folder.count += 1
            if folder.start is None or request.created_at < folder.start:
                folder.start = request.created_at
            if folder.end is None or end > folder.end:
                folder.end = end
    return root


def _segments(path: object) -> list[str]:
    segments = [s for s in normalize_path(path).split("/") if s]
    if len(segments) <= MAX_TREE_DEPTH:
        return segments
    return [*segments[: MAX_TREE_DEPTH - 1], "/".join(segments[MAX_TREE_DEPTH - 1 :])]

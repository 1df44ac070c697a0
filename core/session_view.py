"""What the session screen shows when it opens, read in one go off the UI thread.

Opening a session means reading its requests (hundreds of rows), building the path tree and
the request names, and finding the person's current replay with its results; the app does
this in a thread worker and hands the screen one `SessionView`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from core.labels import request_labels
from core.models import LoggedRequest, SessionSummary
from core.replay.models import Replay, ReplayResult
from core.tree import TreeFolder, build_tree

if TYPE_CHECKING:
    from core.store import Store


class LoadedReplay(BaseModel):
    """A replay and its results by request id (added agent rounds included)."""

    replay: Replay
    results: dict[str, ReplayResult] = Field(default_factory=dict)


class SessionView(BaseModel):
    """A session as the session screen shows it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    session_id: str
    summary: SessionSummary | None
    requests: list[LoggedRequest]
    tree: TreeFolder
    labels: dict[str, str]  # request id -> its name by path (core.labels)
    current: LoadedReplay | None = None  # the person's latest replay, never a matrix cell's

    @property
    def name(self) -> str:
        return self.summary.name if self.summary and self.summary.name else self.session_id


def load_replay(store: Store, replay_id: str) -> LoadedReplay | None:
    replay = store.get_replay(replay_id)
    if replay is None:
        return None
    return LoadedReplay(replay=replay, results=store.replay_results(replay_id))


def load_session_view(store: Store, session_id: str, *, with_replay: bool = True) -> SessionView:
    """The session's requests, tree, names and (unless told not to) its current replay."""
    requests = store.session_requests(session_id)
    current = None
    if with_replay:
        replays = store.list_replays(session_id)
        if replays:
            cells = store.matrix_cell_replay_ids()
            own = next((r for r in replays if r.id not in cells), None)
            current = load_replay(store, own.id) if own is not None else None
    return SessionView(
        session_id=session_id, summary=store.get_session(session_id), requests=requests,
        tree=build_tree(requests), labels=request_labels(requests), current=current,
    )

"""Replay progress: a bar and counts per state, fed by engine events via messages."""

from __future__ import annotations

from collections import Counter

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import ProgressBar, Static

FINAL = {"done", "failed", "diverged", "skipped", "blocked", "cancelled"}


class ReplayEventMessage(Message):
    """One engine event, posted by the replay worker; handlers update the widgets."""

    def __init__(self, event: object) -> None:
        self.event = event
        super().__init__()


class ReplayFinished(Message):
    def __init__(self, replay: object | None, error: str | None = None) -> None:
        self.replay = replay
        self.error = error
        super().__init__()


class ReplayStatus(Horizontal):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.states: dict[str, str] = {}
        self.total = 0
        self.label = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="replay-label", markup=False)
        yield ProgressBar(total=1, show_eta=False, id="replay-bar")
        yield Static("", id="replay-counts", markup=False)

    def start(self, total: int, label: str) -> None:
        self.states = {}
        self.total = total
        self.label = label
        self.display = True
        self.query_one(ProgressBar).update(total=max(1, total), progress=0)
        self._render_counts()

    def set_state(self, request_id: str, state: str) -> None:
        self.states[request_id] = state
        self._render_counts()

    def finish(self, text: str) -> None:
        self.label = text
        self._render_counts()

    def _render_counts(self) -> None:
        counts = Counter(self.states.values())
        finished = sum(n for s, n in counts.items() if s in FINAL)
        self.query_one(ProgressBar).update(progress=finished)
        order = ("running", "retrying", "done", "diverged", "failed", "blocked", "skipped")
        parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
        queued = self.total - sum(counts.values()) + counts.get("queued", 0)
        if queued > 0:
            parts.insert(0, f"{queued} queued")
        self.query_one("#replay-label", Static).update(self.label)
        self.query_one("#replay-counts", Static).update(
            f"{finished}/{self.total}  " + " · ".join(parts)
        )

"""Replay progress: a bar and counts per state, fed by engine events via messages."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import ProgressBar, Static

from core.replay.models import FINAL, ReplayEvent
from core.replay.waits import Waits
from core.text import literal
from tui.widgets.badges import BADGE_CLASSES, state_style


class ReplayProgress(Message):
    """Engine events since the last batch, posted by the replay worker thread."""

    def __init__(self, events: list[ReplayEvent]) -> None:
        self.events = events
        super().__init__()


class ReplayStatus(Horizontal):
    """The running replay's label, a progress bar, and the counts per state (theme colours)."""

    COMPONENT_CLASSES = BADGE_CLASSES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.states: dict[str, str] = {}
        self.total = 0
        self.label = ""
        self.waits = Waits()  # what the run waits for, shown under the counts
        self._waiting = ""
        self._heard = True  # an engine event came since the run started (`STARTING` until)
        # Lines reserved: grow when a run needs more, never shrink while the screen lives.
        # Each change resizes the session's tree beside it (a layout and a repaint of every
        # line: 40-80 ms on a 520-request session), so the next replay keeps this height.
        self._rows = 1

    def compose(self) -> ComposeResult:
        yield Static("", id="replay-label", markup=False)
        yield ProgressBar(total=1, show_eta=False, id="replay-bar")
        yield Static("", id="replay-counts", markup=False)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def feed(self, event: ReplayEvent) -> None:
        """An engine event: keeps the "waiting for … · N s" line current."""
        self._heard = True
        self.waits.feed(event)
        self._tick()

    def feed_many(self, events: list[ReplayEvent]) -> None:
        """A batch of engine events; the next repaint (set_states) shows the wait line."""
        self._heard = self._heard or bool(events)
        for event in events:
            self.waits.feed(event)
        self._waiting = literal(self.waits.describe(names=self._names()))

    def _names(self) -> dict[str, str]:
        """Requests by path, as the screen showing this status names them (core.labels)."""
        names = getattr(self.screen, "labels", None)
        return names if isinstance(names, dict) else {}

    def _tick(self) -> None:
        if not self._heard:
            return  # still STARTING
        waiting = literal(self.waits.describe(names=self._names()))
        if waiting != self._waiting:
            self._waiting = waiting
            self._render_counts()

    def start(self, total: int, label: str) -> None:
        self.waits = Waits()
        self._waiting = STARTING  # until the engine's first event
        self._heard = False
        self.states = {}
        self.total = total
        self.label = label
        self.display = True
        self.query_one(ProgressBar).update(total=max(1, total), progress=0)
        self._render_counts()

    def set_state(self, request_id: str, state: str) -> None:
        self.set_states({request_id: state})

    def set_states(self, states: dict[str, str]) -> None:
        """Several requests at once (one batch of engine events): one repaint."""
        if states and not self._heard:  # the engine has spoken: no longer STARTING
            self._heard, self._waiting = True, ""
        self.states.update(states)
        self._render_counts()

    def on_resize(self) -> None:
        if self.display:
            self._render_counts()

    def finish(self, text: str) -> None:
        if not self._heard:  # ended (refused, failed) before any event
            self._heard, self._waiting = True, ""
        self.label = text
        self._render_counts()

    def _render_counts(self) -> None:
        counts = Counter(self.states.values())
        finished = sum(n for s, n in counts.items() if s in FINAL)
        self.query_one(ProgressBar).update(progress=finished)
        order = ("running", "retrying", "done", "diverged", "failed", "blocked", "skipped",
                 "not_reached", "needs_tool_result", "cancelled")  # every count adds up
        parts = [(counts[s], s) for s in order if counts.get(s)]
        queued = self.total - sum(counts.values()) + counts.get("queued", 0)
        if queued > 0:
            parts.insert(0, (queued, "queued"))
        line = Text(f"{finished}/{self.total}  ")
        for index, (count, state) in enumerate(parts):
            if index:
                line.append(" · ")
            line.append(f"{count} {state.replace('_', ' ')}", style=state_style(self, state))
        if self._waiting:
            line.append(f"\n{self._waiting}")
        label = self.query_one("#replay-label", Static)
        counts_line = self.query_one("#replay-counts", Static)
        label_text = Text(at_separators(self.label, label.content_region.width))
        widths = label.content_region.width, counts_line.content_region.width
        rows = max(_lines(label_text.plain, widths[0]), _lines(line.plain, widths[1]))
        if min(widths) > 0 and rows > self._rows:  # (not laid out yet: `on_resize` comes)
            self._rows = min(rows, MAX_ROWS)
            self.styles.height = self._rows
        _update(label, label_text)
        _update(counts_line, line)


MAX_ROWS = 4
# Shown until the engine's first event: a replay process started on demand takes ~0.5 s.
STARTING = "starting the replay engine…"
def at_separators(text: str, width: int, separator: str = " · ") -> str:
    """A long line broken only between its ` · ` parts, so `6 tok/s` never splits."""
    if width <= 0 or len(text) <= width:
        return text
    lines: list[str] = []
    current = ""
    for part in text.split(separator):
        joined = f"{current}{separator}{part}" if current else part
        if current and len(joined) > width:
            lines.append(current)
            current = part
        else:
            current = joined
    lines.append(current)
    return "\n".join(lines)


def _update(static: Static, text: Text) -> None:
    """Change a line's text and repaint it, never the screen's layout.

    A replay updates the counts many times a second. A layout pass each time would arrange
    the whole screen per batch of events, and a status line changing height resizes the
    request tree beside it, which then rebuilds all of its lines (tens of ms on a large
    session). The status keeps the height its run needed most (`ReplayStatus._rows`).
    """
    before = static.content
    if isinstance(before, Text) and text == before:
        return
    static.update(text, layout=False)


def _lines(text: str, width: int) -> int:
    width = max(1, width)
    return sum(max(1, -(-len(line) // width)) for line in text.split("\n"))

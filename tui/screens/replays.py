"""Replays of a session: reopen one, resume a stopped one, or diff two against each other."""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.widgets.text import clean, plural

RESUMABLE = {"cancelled", "interrupted", "failed"}


class ReplayChoice(NamedTuple):
    """Reopen `first`; diff `first` against `second`; or resume `first`."""

    first: str
    second: str | None = None
    resume: bool = False


class ReplaysScreen(ModalScreen[ReplayChoice | None]):
    HELP = """\
## Replays
- **Enter**: reopen the highlighted replay
- **c**: mark it as the first side of a comparison, then **Enter** on another to diff them
- **r**: resume a cancelled, interrupted or failed replay (finished requests are kept)
- **Escape**: close
"""

    BINDINGS = [
        Binding("escape", "close", "Close", id="replays.close"),
        Binding("c,space", "mark", "Compare…", id="replays.compare"),
        Binding("r", "resume", "Resume", id="replays.resume"),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.marked: str | None = None
        self.statuses: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="replays-box", classes="form"):
            yield Static("Replays of this session", classes="form-title")
            yield OptionList(id="replays-list")
            yield Static("Enter: open · c: compare two · r: resume · Esc: close",
                         id="replays-hint", markup=False)

    def on_mount(self) -> None:
        replays = self.app.store.list_replays(self.session_id)
        self.statuses = {replay.id: replay.status for replay in replays}
        listing = self.query_one(OptionList)
        if not replays:
            listing.add_option(Option("no replays yet: press r on the session", disabled=True))
            return
        for replay in replays:
            label = Text(f"{replay.created_at:%Y-%m-%d %H:%M}  ", style="dim")
            label.append(f"{replay.id[:8]}  ", style="bold")
            label.append(f"{replay.mode:<9} {replay.status:<10}")
            label.append(f" {replay.done} done · {replay.failed} failed")
            edits = len(replay.spec.edits.system) + len(replay.spec.edits.params)
            via = replay.spec.via.split("://")[-1].split("/")[0]
            label.append(f" · {plural(edits, 'edit')} · {clean(via)[:24]}", style="dim")
            listing.add_option(Option(label, id=replay.id))
        listing.highlighted = 0
        listing.focus()

    def action_mark(self) -> None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None:
            return
        option = listing.get_option_at_index(listing.highlighted)
        if option.id:
            self.marked = option.id
            self.query_one("#replays-hint", Static).update(
                f"comparing from {option.id[:8]}: Enter on another replay · Esc: close"
            )

    def action_resume(self) -> None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None:
            return
        chosen = listing.get_option_at_index(listing.highlighted).id
        if not chosen:
            return
        status = self.statuses.get(chosen, "")
        if status not in RESUMABLE:
            self.notify(f"replay {chosen[:8]} is {status}: nothing to resume",
                        severity="warning")
            return
        self.dismiss(ReplayChoice(chosen, resume=True))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen = event.option.id
        if not chosen:
            return
        if self.marked and self.marked != chosen:
            self.dismiss(ReplayChoice(self.marked, chosen))
        else:
            self.dismiss(ReplayChoice(chosen))

    def action_close(self) -> None:
        self.dismiss(None)

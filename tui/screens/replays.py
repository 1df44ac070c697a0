"""Replays of a session: reopen one, resume a stopped one, or diff two against each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict
from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from core.replay.models import Replay
from core.text import literal
from tui.navigation import Modal
from tui.widgets.badges import BADGE_CLASSES, state_style
from tui.widgets.text import plural, short
from tui.workers import WorkerRoutes

if TYPE_CHECKING:
    from tui.app import RepriseApp

RESUMABLE = {"cancelled", "interrupted", "failed"}


class ReplayChoice(BaseModel):
    """Reopen `first`; diff `first` against `second`; or resume `first`."""

    model_config = ConfigDict(frozen=True)

    first: str
    second: str | None = None
    resume: bool = False


class ReplaysListed(Message):
    """A session's replays, newest first, and the matrix cell each one ran for (read in a
    worker: every matrix of the store is read to name the cells)."""

    def __init__(self, replays: list[Replay], cells: dict[str, str]) -> None:
        self.replays = replays
        self.cells = cells
        super().__init__()


HINT = "Enter: open · c: compare two · r: resume · Esc: close"


class ReplaysScreen(WorkerRoutes, Modal[ReplayChoice | None]):
    if TYPE_CHECKING:  # Textual types `app` as App[Any]; this screen runs in RepriseApp
        app = getters.app(RepriseApp)

    COMPONENT_CLASSES = BADGE_CLASSES  # replay statuses coloured by the theme (app.tcss)
    HELP = """\
## Replays
Newest first; replays made by a prompt-version matrix are marked with their matrix and cell.
- **↑/↓**, **j/k**: move · **Enter**: reopen the highlighted replay
- **c** / **Space**: mark it as the base of a comparison, then **Enter** on another:
  the diff shows base → new · **c** again on the marked one unmarks it
- **r**: resume a cancelled, interrupted or failed replay (finished requests are kept)
- **y**: copy the highlighted replay's id · **Escape**: close
"""

    copy_what = "the replay id"
    WORKER_ERRORS = {"replays-list": "cannot read the replays"}

    BINDINGS = [
        Binding("escape", "close", "Close", id="replays.close", tooltip="Back to the session"),
        Binding("c,space", "mark", "Compare…", id="replays.compare",
                tooltip="Mark the base replay, then Enter on another to compare"),
        Binding("r", "resume", "Resume", id="replays.resume",
                tooltip="Run the unfinished requests of a stopped replay"),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.marked: str | None = None
        self.statuses: dict[str, str] = {}
        self.labels: dict[str, Text] = {}
        self.listed = False  # the replays have been read and shown
        self._listing: ReplaysListed | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="replays-box", classes="form"):
            yield Static("Replays of this session", classes="form-title")
            yield OptionList(id="replays-list")
            yield Static(HINT, id="replays-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(OptionList).add_option(Option("reading replays…", disabled=True))
        self.list_replays()
        # Statuses are coloured by the theme: a theme change recolours the list in place.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._relabel())

    @work(thread=True, exclusive=True, group="replays-list",
          description="reading the session's replays", exit_on_error=False)
    def list_replays(self) -> None:
        from core.matrix import matrix_cell_replays

        replays = self.app.loaded_store.list_replays(self.session_id)
        cells = matrix_cell_replays(self.app.loaded_store) if replays else {}
        self.post_message(ReplaysListed(replays, cells))

    def _relabel(self) -> None:
        if self._listing is None:
            return
        listing = self.query_one(OptionList)
        highlighted = listing.highlighted
        self.on_replays_listed(self._listing)
        if highlighted is not None and highlighted < listing.option_count:
            listing.highlighted = highlighted
        if self.marked is not None and self.marked in self.labels:
            self._label_base(self.marked)

    def on_replays_listed(self, message: ReplaysListed) -> None:
        replays, cells = message.replays, message.cells
        self.listed = True
        self._listing = message
        self.statuses = {replay.id: replay.status for replay in replays}
        listing = self.query_one(OptionList)
        listing.clear_options()
        if not replays:
            listing.add_option(Option("no replays yet: press r on the session", disabled=True))
            return
        for replay in replays:
            # Essentials first (id, status, counts, matrix mark) so 80 columns keep them.
            label = Text(f"{replay.id[:8]}  ", style="bold")
            label.append(f"{replay.status:<10}", style=state_style(self, replay.status))
            label.append(f" {replay.done} done · {replay.failed} failed")
            if replay.id in cells:
                label.append(f"  ▦ {literal(cells[replay.id])}", style="italic cyan")
            edits = len(replay.spec.edits.system) + len(replay.spec.edits.params)
            via = replay.spec.via.split("://")[-1].split("/")[0]
            label.append(f"  {replay.created_at:%Y-%m-%d %H:%M} · {replay.mode} ·"
                         f" {plural(edits, 'edit')} · {short(literal(via), 24)}", style="dim")
            self.labels[replay.id] = label
            listing.add_option(Option(label, id=replay.id))
        listing.highlighted = 0
        listing.focus()

    def _label_base(self, replay_id: str) -> None:
        self._label(replay_id, Text("◆ base ", style="bold reverse")
                    .append_text(self.labels[replay_id]))

    def _highlighted(self) -> str | None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None:
            return None
        return listing.get_option_at_index(listing.highlighted).id

    def action_mark(self) -> None:
        chosen = self._highlighted()
        if not chosen:
            return
        hint = self.query_one("#replays-hint", Static)
        previous, self.marked = self.marked, (None if self.marked == chosen else chosen)
        if previous is not None:
            self._label(previous, self.labels[previous])
        if self.marked is None:
            hint.update(HINT)
            return
        self._label_base(chosen)
        hint.update(f"base {chosen[:8]} marked: Enter on another replay compares base → it"
                    " · c: unmark · Esc: close")

    def _label(self, replay_id: str, prompt: Text) -> None:
        self.query_one(OptionList).replace_option_prompt(replay_id, prompt)

    def copy_text(self) -> str:
        return self._highlighted() or ""

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
        self.dismiss(ReplayChoice(first=chosen, resume=True))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen = event.option.id
        if not chosen:
            return
        if self.marked == chosen:
            self.notify(f"{chosen[:8]} is the base: move to another replay (j/k) and press"
                        " Enter to compare, or c to unmark", severity="warning")
        elif self.marked:
            self.dismiss(ReplayChoice(first=self.marked, second=chosen))
        else:
            self.dismiss(ReplayChoice(first=chosen))

    def action_close(self) -> None:
        self.dismiss(None)

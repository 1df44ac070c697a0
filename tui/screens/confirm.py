"""A yes/no question the person must answer before something leaves the machine.

Used when resuming a replay or a matrix whose stored target is not built in: the store says
where it was sent (and with which key variable), and only the person's confirmation here
lets the resumed run send there again.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.screens.backdrop import FrozenBackdrop
from tui.screens.steady import SteadyLayout


class ConfirmScreen(FrozenBackdrop, SteadyLayout, ModalScreen[bool]):
    HELP = """\
## Confirm
- **y** / **Enter** on *Send there*: go ahead
- **n** / **Escape**: cancel; nothing is sent
"""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Go ahead"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no",
                tooltip="Cancel; nothing is sent"),
    ]

    def __init__(self, title: str, message: str, yes: str = "Send there") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="form"):
            yield Static(self.title_text, classes="form-title", markup=False)
            yield Static(self.message, id="confirm-message", markup=False)
            with Horizontal(classes="form-buttons"):
                yield Button(f"{self.yes} (y)", id="confirm-yes", variant="warning",
                             tooltip="Send the unfinished requests to this target")
                yield Button("Cancel (n)", id="confirm-no", tooltip="Nothing is sent")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

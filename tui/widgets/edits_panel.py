"""Pending edits: what a replay will change, each resettable."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from core.edits import EditSet
from tui.widgets.text import clean, short


class EditsPanel(OptionList):
    HELP = """\
## Pending edits
Edits the next replay applies. **x** / **Delete** resets the highlighted edit;
**X** resets all of them.
"""

    BINDINGS = [
        Binding("x,delete", "reset", "Reset edit", id="edits.reset"),
        Binding("X", "reset_all", "Reset all", id="edits.reset_all"),
    ]

    class Reset(Message):
        def __init__(self, kind: str, index: int | None) -> None:
            self.kind = kind  # "system" | "params" | "all"
            self.index = index
            super().__init__()

    def show_edits(self, edits: EditSet) -> None:
        self.clear_options()
        options: list[Option] = []
        for index, edit in enumerate(edits.system):
            where = f"prompt {edit.target}" if edit.scope == "prompt" else f"request {edit.target[:8]}"
            label = Text("✎ system ", style="bold yellow")
            label.append(clean(where), style="cyan")
            label.append("  " + short(clean(edit.text).replace("\n", " ⏎ "), 60), style="dim")
            options.append(Option(label, id=f"system:{index}"))
        for index, param in enumerate(edits.params):
            where = {"all": "all requests", "prompt": f"prompt {param.target}"}.get(
                param.scope, f"request {(param.target or '')[:8]}"
            )
            values = ", ".join(f"{k}={v}" for k, v in param.values().items())
            label = Text("⚙ params ", style="bold yellow")
            label.append(clean(where), style="cyan")
            label.append("  " + clean(values), style="dim")
            options.append(Option(label, id=f"params:{index}"))
        self.add_options(options)
        self.border_title = f"pending edits ({len(options)})"
        self.display = bool(options)

    def action_reset(self) -> None:
        if self.highlighted is None:
            return
        option = self.get_option_at_index(self.highlighted)
        kind, index = (option.id or ":").split(":")
        self.post_message(self.Reset(kind, int(index)))

    def action_reset_all(self) -> None:
        self.post_message(self.Reset("all", None))

"""Pending edits: what a replay will change, each resettable."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from core.edits import EditSet, SystemEdit
from core.labels import describe_change
from core.text import literal
from tui.widgets.text import short


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

    def show_edits(self, edits: EditSet, originals: dict[str, str] | None = None,
                   names: dict[str, str] | None = None) -> None:
        """`originals`: edit target -> the recorded system prompt, to say what changed;
        `names`: request id -> its name by path."""
        self.clear_options()
        options: list[Option] = []
        for index, edit in enumerate(edits.system):
            where = (f"prompt {edit.target}" if edit.scope == "prompt"
                     else (names or {}).get(edit.target, f"request {edit.target[:8]}"))
            label = Text("✎ system ", style="bold yellow")
            label.append(literal(where), style="cyan")
            label.append("  " + short(literal(describe_edit(edit, originals)), 80), style="dim")
            options.append(Option(label, id=f"system:{index}"))
        for index, param in enumerate(edits.params):
            where = {"all": "all requests", "prompt": f"prompt {param.target}"}.get(
                param.scope, (names or {}).get(param.target or "",
                                               f"request {(param.target or '')[:8]}")
            )
            values = ", ".join(f"{k}={v}" for k, v in param.values().items())
            label = Text("⚙ params ", style="bold yellow")
            label.append(literal(where), style="cyan")
            label.append("  " + literal(values), style="dim")
            options.append(Option(label, id=f"params:{index}"))
        self.add_options(options)
        self.border_title = f"pending edits ({len(options)})"
        self.display = bool(options)

    def summary_lines(self) -> list[Text]:
        """The pending edits as shown here (for the replay form to list before starting)."""
        return [self.get_option_at_index(i).prompt for i in range(self.option_count)]

    def action_reset(self) -> None:
        if self.highlighted is None:
            return
        option = self.get_option_at_index(self.highlighted)
        kind, index = (option.id or ":").split(":")
        self.post_message(self.Reset(kind, int(index)))

    def action_reset_all(self) -> None:
        self.post_message(self.Reset("all", None))


def describe_edit(edit: SystemEdit, originals: dict[str, str] | None) -> str:
    """What a system-prompt edit changes, against the recorded prompt when known."""
    if edit.mode == "append":
        return describe_change("", edit.text).replace("new prompt", "appends", 1)
    original = (originals or {}).get(edit.target)
    if original is None:
        return "replaces it with " + " ".join(edit.text.split()[:8])
    return describe_change(original, edit.text)

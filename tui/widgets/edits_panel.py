"""Pending edits: what a replay will change, each resettable."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from core.edits import EditSet, SystemEdit
from core.labels import describe_change
from core.text import literal
from tui.widgets.badges import BADGE_CLASSES, EDITED_SYMBOL, state_style
from tui.widgets.text import short


class EditsPanel(OptionList):
    """The screen's pending edits; assigning `edits` (a reactive) redraws the list."""

    COMPONENT_CLASSES = BADGE_CLASSES

    HELP = """\
## Pending edits
Edits the next replay applies. **x** / **Delete** resets the highlighted edit;
**X** resets all of them.
"""

    BINDINGS = [
        Binding("x,delete", "reset", "Reset edit", id="edits.reset",
                tooltip="Reset the highlighted edit"),
        Binding("X", "reset_all", "Reset all", id="edits.reset_all",
                tooltip="Reset every pending edit"),
    ]

    # Always redrawn when assigned: the same edits may read differently once the recorded
    # prompts (`originals`) or the request names are known.
    edits: reactive[EditSet] = reactive(EditSet, always_update=True, init=False)

    class Reset(Message):
        def __init__(self, kind: str, index: int | None) -> None:
            self.kind = kind  # "system" | "params" | "all"
            self.index = index
            super().__init__()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Edit target -> the recorded system prompt (to say what changed); request id -> its
        # name by path.
        self.originals: dict[str, str] = {}
        self.names: dict[str, str] = {}

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.watch_edits())

    def show_edits(self, edits: EditSet, originals: dict[str, str] | None = None,
                   names: dict[str, str] | None = None) -> None:
        """`originals`: edit target -> the recorded system prompt, to say what changed;
        `names`: request id -> its name by path."""
        self.originals = originals or {}
        self.names = names or {}
        self.edits = edits

    def watch_edits(self) -> None:
        edits, names = self.edits, self.names
        edited, target, note = (state_style(self, role) for role in ("edited", "count", "note"))
        highlighted = self.highlighted
        self.clear_options()
        options: list[Option] = []
        for index, edit in enumerate(edits.system):
            where = (f"prompt {edit.target}" if edit.scope == "prompt"
                     else names.get(edit.target, f"request {edit.target[:8]}"))
            label = Text(f"{EDITED_SYMBOL} system ", style=edited)
            label.append(literal(where), style=target)
            label.append("  " + short(literal(describe_edit(edit, self.originals)), 80),
                         style=note)
            options.append(Option(label, id=f"system:{index}"))
        for index, param in enumerate(edits.params):
            where = {"all": "all requests", "prompt": f"prompt {param.target}"}.get(
                param.scope, names.get(param.target or "", f"request {(param.target or '')[:8]}")
            )
            values = ", ".join(f"{k}={v}" for k, v in param.values().items())
            label = Text("⚙ params ", style=edited)
            label.append(literal(where), style=target)
            label.append("  " + literal(values), style=note)
            options.append(Option(label, id=f"params:{index}"))
        self.add_options(options)
        if options and highlighted is not None:
            self.highlighted = min(highlighted, len(options) - 1)
        self.border_title = f"pending edits ({len(options)})"
        self.display = bool(options)

    def summary_lines(self) -> list[Text]:
        """The pending edits as shown here (for the replay form to list before starting)."""
        lines = (self.get_option_at_index(i).prompt for i in range(self.option_count))
        return [line for line in lines if isinstance(line, Text)]

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

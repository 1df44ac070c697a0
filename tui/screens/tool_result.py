"""Give the result of a tool call an agent replay stopped for (the `stop` rule)."""

from __future__ import annotations

import contextlib
import json

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static, TextArea

from core.replay.conversation import ToolResult
from tui.screens.backdrop import FrozenBackdrop
from tui.screens.steady import SteadyLayout


class ToolResultScreen(FrozenBackdrop, SteadyLayout, ModalScreen[dict[str, str] | None]):
    """One text area per waiting call; dismissed with {call id: result} or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="tool_result.cancel",
                tooltip="Leave the replay stopped; t gives the result later"),
        Binding("ctrl+s,f2", "save", "Continue replay", priority=True, id="tool_result.save",
                tooltip="Send these tool results and continue the replay"),
        Binding("ctrl+e", "editor", "$EDITOR", priority=True, id="tool_result.editor",
                tooltip="Write the highlighted result in $EDITOR"),
    ]

    HELP = """\
## Tool result
The replay stopped because the replayed model called a tool the recording cannot answer and
its rule is `stop`. Type or paste what the tool would return, then continue.
- **ctrl+s**: continue the replay with these results · **ctrl+e**: edit in `$EDITOR`
- **Tab**: next call · **Escape**: leave the replay stopped (R resumes it later)
"""

    def __init__(self, calls: list[ToolResult]) -> None:
        super().__init__()
        self.calls = calls

    def compose(self) -> ComposeResult:
        with Vertical(id="tool-result-box", classes="form"):
            yield Static("The replay waits for tool results", classes="form-title",
                         markup=False)
            for n, call in enumerate(self.calls):
                args = call.arguments
                with contextlib.suppress(ValueError, TypeError):
                    args = json.dumps(json.loads(args), ensure_ascii=False)
                yield Static(f"{call.name}({args})  ·  {call.call_id}", markup=False,
                             classes="tool-call-label")
                area = TextArea("", id=f"tool-result-{n}", classes="tool-result-text")
                area.tooltip = f"the result of {call.name}, as the tool would return it"
                yield area
            with Horizontal(classes="form-buttons"):
                yield Button("Continue", variant="primary", id="save",
                             tooltip="Continue the replay with these results (ctrl+s)")
                yield Button("Cancel", id="cancel", tooltip="Leave the replay stopped")
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def _areas(self) -> list[TextArea]:
        return [self.query_one(f"#tool-result-{n}", TextArea) for n in range(len(self.calls))]

    def action_editor(self) -> None:
        from tui.widgets.external_editor import edit_in_editor

        focused = self.focused if isinstance(self.focused, TextArea) else self._areas()[0]
        try:
            text = edit_in_editor(self.app, focused.text)
        except Exception as exc:  # no terminal to suspend (e.g. headless)
            self.notify(f"cannot open $EDITOR: {exc}", severity="error")
            return
        if text is not None:
            focused.text = text

    def action_save(self) -> None:
        results = {call.call_id: area.text for call, area in zip(self.calls, self._areas(),
                                                                  strict=True)}
        empty = [call.name for call in self.calls if not results[call.call_id].strip()]
        if empty:
            self.notify(f"give a result for {', '.join(empty)} (it may be any text)",
                        severity="warning")
            return
        self.dismiss(results)

    def action_cancel(self) -> None:
        self.dismiss(None)

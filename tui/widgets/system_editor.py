"""A system prompt turned into a TextArea in place, with the scope of the edit."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static, TextArea


class SystemEditor(Vertical):
    HELP = """\
## Editing a system prompt
- **ctrl+s** / **F2**: save as a pending edit · **Escape**: cancel
- **ctrl+t** / **F3**: switch scope between every request with this prompt id, this
  request only, and every request in the session (prompt id is the default when the
  request has one)
- **ctrl+e** / **F4**: open the text in `$EDITOR`
"""

    BINDINGS = [
        Binding("ctrl+s,f2", "save", "Save", priority=True, id="editor.save",
                tooltip="Keep this edit for the next replay"),
        Binding("ctrl+t,f3", "toggle_scope", "Scope", priority=True, id="editor.scope",
                tooltip="Every request with this prompt id, or this request only"),
        Binding("ctrl+e,f4", "external", "$EDITOR", priority=True, id="editor.external",
                tooltip="Edit the text in $EDITOR"),
        Binding("escape", "cancel", "Cancel", priority=True, id="editor.cancel",
                tooltip="Discard the text typed here"),
    ]

    # Where the edit applies: "prompt" (every request with this prompt id), "request" or
    # "all"; the scope line follows it.
    scope: reactive[str] = reactive("prompt", init=False)

    class Saved(Message):
        def __init__(self, text: str, scope: str, target: str) -> None:
            self.text = text
            self.scope = scope
            self.target = target
            super().__init__()

    class Cancelled(Message):
        pass

    def __init__(
        self,
        text: str,
        *,
        request_id: str,
        prompt_id: str | None,
        prompt_count: int,
        total_count: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.initial = text
        self.request_id = request_id
        self.prompt_id = prompt_id
        self.prompt_count = prompt_count
        self.total_count = total_count
        self.set_reactive(SystemEditor.scope, "prompt" if prompt_id else "request")
        self._discard_armed = False

    def compose(self) -> ComposeResult:
        yield Static(self._scope_text(), id="editor-scope", markup=False)
        yield TextArea(self.initial, id="editor-text", soft_wrap=True, show_line_numbers=False)

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.move_cursor(area.document.end)
        area.focus()

    def _scope_text(self) -> str:
        if self.scope == "prompt":
            where = f"every request with prompt id {self.prompt_id} ({self.prompt_count})"
        elif self.scope == "all":
            where = f"every request in the session (*, {self.total_count})"
        else:
            where = "this request only"
        return f"✎ applies to {where}  ·  ctrl+t/F3 switch scope  ·  ctrl+s/F2 save  ·  Esc cancel"

    @property
    def text(self) -> str:
        return self.query_one(TextArea).text

    @property
    def target(self) -> str:
        if self.scope == "all":
            return "*"
        return self.prompt_id if self.scope == "prompt" and self.prompt_id else self.request_id

    def action_save(self) -> None:
        # Every request is the prompt id `*` (see core.edits).
        scope = "prompt" if self.scope == "all" else self.scope
        self.post_message(self.Saved(self.text, scope, self.target))

    def action_cancel(self) -> None:
        """Escape: leaves at once when nothing changed; an edited text needs a second press."""
        if self.text != self.initial and not self._discard_armed:
            self._discard_armed = True
            self.app.notify("the edited prompt is not saved: Escape again discards it,"
                            " ctrl+s saves it", title="edit", severity="warning")
            self.set_timer(4, self._disarm)
            return
        self.post_message(self.Cancelled())

    def _disarm(self) -> None:
        self._discard_armed = False

    def action_toggle_scope(self) -> None:
        cycle = ["prompt", "request", "all"] if self.prompt_id else ["request", "all"]
        self.scope = cycle[(cycle.index(self.scope) + 1) % len(cycle)]

    def watch_scope(self) -> None:
        self.query_one("#editor-scope", Static).update(self._scope_text())

    def action_external(self) -> None:
        from tui.widgets.external_editor import edit_in_editor

        try:
            text = edit_in_editor(self.app, self.text)
        except Exception as exc:
            self.app.notify(f"cannot open $EDITOR: {exc}", severity="error")
            return
        if text is not None:
            self.query_one(TextArea).load_text(text)

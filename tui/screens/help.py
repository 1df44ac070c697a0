"""F1: help for the focused widget, plus every key active right now."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Markdown, Static

from tui.navigation import Modal

GENERAL = """\
## Everywhere
- **↑/↓**, **j/k**: move in a list or table · **g/G**: first/last · **Tab/Shift+Tab**: next/previous pane
- **Enter**: open · **Escape**: back (or close) · **y**: copy what has focus
- **F1**: this help · **ctrl+p**: command palette · **ctrl+q**: quit
- Keys can be rebound in `config.toml` under `[keymap]` by binding id (listed below).
"""


class HelpScreen(Modal[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close", tooltip="Close the help"),
        # F1 toggles help; the footer names Escape once.
        Binding("f1,q", "close", "Close", show=False, id="help.close_keys",
                tooltip="Close the help"),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    @classmethod
    def for_focus(cls, screen: Screen) -> HelpScreen:
        sections: list[str] = []
        focused = screen.focused
        seen: set[str] = set()
        for node in (*(focused.ancestors_with_self if focused else ()), screen):
            text = getattr(node, "HELP", None)
            if isinstance(text, str) and text and text not in seen:
                seen.add(text)
                sections.append(text)
        rows = ["| Key | Action | Id |", "|---|---|---|"]
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description and not binding.id:
                continue
            display = binding.key_display or screen.app.get_key_display(binding)
            binding_id = f"`{binding.id}`" if binding.id else "–"
            # The tooltip (also shown when hovering the footer key) says what the key does.
            tooltip = active.tooltip or binding.tooltip
            action = f"**{binding.description}**: {tooltip}" if tooltip else binding.description
            rows.append(f"| `{display or key}` | {action} | {binding_id} |")
        body = "\n".join([*sections, GENERAL, "## Keys active here", *rows])
        return cls(body)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("Help  (Escape to close)", id="help-title")
            yield Markdown(self.text)

    copy_what = "the help text"

    def copy_text(self) -> str:
        return self.text

    def action_close(self) -> None:
        """Close at once (Screen's own `dismiss` action waits for pending callbacks)."""
        self.dismiss()

"""The navigation model every screen and modal shares (written down in docs/tui.md).

Lists and tables move with ↑/↓ and j/k (g/G: first/last), Tab/Shift+Tab cycle panes, Enter
opens, Escape goes back, F1 helps with what has focus, `y` copies what has focus, and the
footer shows the keys of the screen in front. The vi keys are not bound per widget: they
replay the focused widget's own ↑/↓/Home/End binding, so every list gets them, and a text
field (which consumes printable keys) still receives the letters.

Textual stops app bindings at a modal screen, so modals derive from `Modal`, which routes
F1, `y` and the vi keys to the app and mounts its own footer.
"""

from __future__ import annotations

from typing import TypeVar

from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widget import Widget

from tui.screens.backdrop import FrozenBackdrop
from tui.screens.steady import SteadyLayout

VI_KEYS = {"j": "down", "k": "up", "g": "home", "G": "end"}

NAV_BINDINGS = [
    Binding(vi, f"app.nav('{key}')", key.capitalize(), show=False, id=f"nav.{key}",
            tooltip=f"Same as {key.capitalize()} in the focused list or pane")
    for vi, key in VI_KEYS.items()
]

ResultType = TypeVar("ResultType")


class Modal(FrozenBackdrop, SteadyLayout, ModalScreen[ResultType]):
    """A modal that keeps the app's keys (F1, y, j/k) and shows its own footer."""

    BINDINGS = [
        Binding("f1", "app.help", "Help", id="modal.help",
                tooltip="Help for this form, with every key active here"),
        Binding("y", "app.copy", "Copy", show=False, id="modal.copy",
                tooltip="Copy what has focus"),
        *NAV_BINDINGS,
    ]

    def on_mount(self) -> None:
        from tui.widgets.footer import Footer

        self.mount(Footer())


def copy_of(widget: Widget) -> tuple[str, str] | None:
    """What a focused widget holds that `y` copies, and how to name it in the toast."""
    from textual.widgets import DataTable, Input, OptionList, TextArea

    if isinstance(widget, TextArea):
        if widget.selected_text:
            return widget.selected_text, "the selected text"
        return widget.text, "the text"
    if isinstance(widget, Input):
        return widget.value, "the field"
    if isinstance(widget, OptionList) and widget.highlighted is not None:
        option = widget.get_option_at_index(widget.highlighted)
        prompt = option.prompt
        return getattr(prompt, "plain", str(prompt)), "the highlighted line"
    if isinstance(widget, DataTable) and widget.row_count:
        row = widget.get_row_at(widget.cursor_row)
        return "\t".join(getattr(v, "plain", str(v)) for v in row), "the highlighted row"
    return None


def binding_ids() -> set[str]:
    """Every binding id of the app's screens and widgets (what `[keymap]` can rebind).

    Imports every screen: call it off the UI thread (the startup worker does).
    """
    import importlib
    import pkgutil

    from textual.dom import DOMNode

    import tui

    for module in pkgutil.walk_packages(tui.__path__, "tui."):
        if module.name.startswith(("tui.screens.", "tui.widgets.")):
            importlib.import_module(module.name)
    ids: set[str] = set()
    pending: list[type[DOMNode]] = [DOMNode]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("tui."):
            ids.update(b.id for b in cls.__dict__.get("BINDINGS", ())
                       if isinstance(b, Binding) and b.id)
    return ids


def keymap_problem(keymap: dict[str, str]) -> str | None:
    """`[keymap]` entries that name no binding, in one message (F1 lists the ids)."""
    unknown = sorted(set(keymap) - binding_ids())
    if not unknown:
        return None
    names = ", ".join(repr(name) for name in unknown[:5])
    return (f"[keymap] {names}: no binding has that id, so the key is not changed;"
            " F1 lists the ids of the keys active on each screen")

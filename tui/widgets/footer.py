"""Textual's footer, rebuilt only when the keys it shows changed.

Textual's footer recomposes all its key widgets (each restyled) on every focus change,
screen switch and binding refresh, and once per trigger even when several arrive in one
frame: opening or closing a modal, or a replay ending, cost tens of milliseconds of the
event loop for a footer that looked the same. This one coalesces the triggers of a frame
and compares what the keys would be before rebuilding them. When only what the keys say
changed (Escape turning from Back into Cancel replay as a replay starts), the shown keys are
relabelled in place: rebuilding mounted and styled every key again, 15-45 ms a time.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey

# What one shown key holds: key, its display, description, action, enabled, tooltip.
Entry = tuple[str, str, str, str, bool, str]


class Footer(TextualFooter):
    """The app's footer: the same keys as Textual's, recomposed only on a real change."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[Any, ...] | None = None
        self._pending = False

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._pending:
            return
        if self.is_attached and screen is self.screen:
            self._pending = True
            self.call_after_refresh(self._recompose_if_changed)

    def _keys(self) -> tuple[Any, ...]:
        """What `compose` would show: the shown bindings, their keys, state and tooltips."""
        app = self.app
        return (
            self.show_command_palette and app.ENABLE_COMMAND_PALETTE,
            tuple(
                (binding.key, app.get_key_display(binding), binding.description,
                 binding.action, binding.group, enabled, tooltip)
                for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
                if binding.show or binding.action == "app.command_palette"
            ),
        )

    async def _recompose_if_changed(self) -> None:
        self._pending = False
        if not self.is_attached:
            return
        keys = self._keys()
        if keys == self._shown:
            return
        self._shown = keys
        if self._relabel():
            return
        await self.recompose()

    def _entries(self) -> list[Entry] | None:
        """The keys `compose` would show, one per action; None where it would group keys."""
        entries: dict[str, Entry] = {}
        for (_, binding, enabled, tooltip) in self.screen.active_bindings.values():
            if not binding.show:
                continue
            if binding.group is not None:
                return None
            entries.setdefault(binding.action, (
                binding.key, self.app.get_key_display(binding), binding.description,
                binding.action, enabled, tooltip))
        return list(entries.values())

    def _relabel(self) -> bool:
        """Show the new keys in the key widgets already there, if they are as many."""
        entries = self._entries()
        shown = [key for key in self.query_children(FooterKey)
                 if not key.has_class("-command-palette")]
        if entries is None or len(entries) != len(shown) or not shown:
            return False
        for widget, (key, display, description, action, enabled, tooltip) in zip(
                shown, entries, strict=True):
            width = len(widget.key_display) + len(widget.description)
            widget.key, widget.key_display, widget.action = key, display, action
            widget.description = description
            widget.tooltip = tooltip or None
            widget._disabled = not enabled
            widget.set_class(not enabled, "-disabled")
            widget.refresh(layout=len(display) + len(description) != width)
        return True

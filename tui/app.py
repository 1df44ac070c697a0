"""The reprise Textual app: owns the store and config, routes between screens.

The first screen (sessions) imports only what it needs; the session, replay and diff screens
(and with them httpx, the replay engine and the diff engine) load when first opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from core.store import Store
from tui.config import Config

if TYPE_CHECKING:
    from core.models import LoggedRequest


class RepriseApp(App[None]):
    """Browse sessions, edit prompts, replay and read the diff."""

    TITLE = "reprise"
    CSS_PATH = "styles/app.tcss"

    BINDINGS = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("q", "quit", "Quit", show=False, id="app.quit_q"),
        Binding("y", "copy", "Copy", show=False, id="app.copy"),
    ]

    def __init__(
        self,
        store: Store | str | Path,
        config: Config | None = None,
        *,
        config_error: str | None = None,
        start_session: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store if isinstance(store, Store) else Store(store)
        self.config = config or Config()
        self._config_error = config_error
        self._start_session = start_session

    def on_mount(self) -> None:
        if self.config.theme:
            if self.config.theme in self.available_themes:
                self.theme = self.config.theme
            else:
                self.notify(f"unknown theme {self.config.theme!r}", severity="warning")
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        if self._config_error:
            self.notify(self._config_error, title="config", severity="warning")
        from tui.screens.sessions import SessionsScreen

        self.push_screen(SessionsScreen())
        if self._start_session:
            self.open_session(self._start_session)

    # -- navigation ------------------------------------------------------------------------
    def open_session(self, session_id: str) -> None:
        from tui.screens.session import SessionScreen

        if self.store.get_session(session_id) is None:
            self.notify(f"no session {session_id}", severity="error")
            return
        self.push_screen(SessionScreen(session_id))

    # -- actions ---------------------------------------------------------------------------
    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen.for_focus(self.screen))

    def action_copy(self) -> None:
        text = None
        focused = self.focused
        for node in (focused, *(focused.ancestors_with_self if focused else ())):
            getter = getattr(node, "copy_text", None)
            if callable(getter):
                text = getter()
                if text:
                    break
        if not text:
            getter = getattr(self.screen, "copy_text", None)
            text = getter() if callable(getter) else None
        if not text:
            self.notify("nothing to copy here", severity="warning")
            return
        self.copy_to_clipboard(text)
        self.notify(f"copied {len(text):,} characters")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Help for the focused widget (F1)", self.action_help)
        yield SystemCommand("Sessions", "Back to the sessions list", self._to_sessions)
        commands = getattr(screen, "palette_commands", None)
        if callable(commands):
            yield from commands()

    def _to_sessions(self) -> None:
        from tui.screens.sessions import SessionsScreen

        while len(self.screen_stack) > 2 and not isinstance(self.screen, SessionsScreen):
            self.pop_screen()

    # -- errors never become tracebacks ----------------------------------------------------
    def report_error(self, what: str, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        self.notify(f"{what}: {message}", title="error", severity="error", timeout=8)

    def request_or_none(self, request_id: str) -> LoggedRequest | None:
        try:
            return self.store.get_request(request_id)
        except Exception as exc:  # a corrupt row must not crash the UI
            self.report_error("cannot read request", exc)
            return None

"""The reprise Textual app: owns the store and config, routes between screens.

The first screen (sessions) imports only what it needs; the session, replay and diff screens
(and with them httpx, the replay engine and the diff engine) load when first opened.
"""

from __future__ import annotations

import sys
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from tui import heap
from tui.navigation import NAV_BINDINGS, copy_of

if TYPE_CHECKING:
    from textual.content import Content
    from textual.dom import DOMNode
    from textual.notifications import SeverityLevel

    from core.models import LoggedRequest
    from core.store import Store
    from core.store.peek import Peek
    from tui.config import Config


class StoreReady(Message):
    """The store (and validated config) finished loading in the background."""

    def __init__(self, store: Store | None, config: Config | None, error: str | None) -> None:
        self.store = store
        self.config = config
        self.error = error
        super().__init__()


class StoreChanged(Message):
    """Another process wrote to the store (e.g. `reprise record`): screens refresh."""


STORE_POLL_SECONDS = 1.0


FIRST_FRAME_WRITE_S = 0.15  # time the first frame's output is given before the store loads


class NotLoadedError(RuntimeError):
    """The store or config was read before the background load finished (a bug, not input)."""


def peek_config(path: Path | None) -> dict[str, Any]:
    """The raw config table, read without validation (theme and keys before first paint)."""
    if path is None:
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}  # load_config says what is wrong once the app is up
    return raw if isinstance(raw, dict) else {}


class RepriseApp(App[None]):
    """Browse sessions, edit prompts, replay and read the diff."""

    TITLE = "reprise"
    CSS_PATH = "styles/app.tcss"
    # Below 100 columns footers go compact so every key of the screen in front fits.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("f1", "help", "Help", id="app.help",
                tooltip="Help for what has focus, with every key active here"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True,
                tooltip="Quit (with pending edits or a replay running, press twice)"),
        Binding("q", "quit", "Quit", show=False, id="app.quit_q",
                tooltip="Quit (with pending edits or a replay running, press twice)"),
        Binding("y", "copy", "Copy", show=False, id="app.copy",
                tooltip="Copy what has focus; the notification says what was copied"),
        # Textual's own palette binding has no id, so a keymap could not move it.
        Binding("ctrl+p", "command_palette", "palette", show=False, priority=True,
                id="app.command_palette", tooltip="Open the command palette"),
        *NAV_BINDINGS,
    ]

    def __init__(
        self,
        store: Store | str | Path | None = None,
        config: Config | None = None,
        *,
        config_path: Path | None = None,
        start_session: str | None = None,
        save_settings: bool = True,
    ) -> None:
        """`store` is a Store, a path, or None for the default store.

        A Store and a Config given here are used at once (tests); otherwise both load in a
        thread after the first paint, so startup never waits for pydantic or SQLite.
        """
        super().__init__()
        # Pending edits per session, kept while the app runs so leaving a session loses none.
        self.pending_edits: dict[str, Any] = {}
        self._quit_armed = False
        self.store: Store | None = store if not isinstance(store, str | Path) else None
        self._store_path = store if isinstance(store, str | Path) else None
        # Until the store is open, the sessions list reads its first rows through this.
        self.peek: Peek | None = None
        self.config: Config | None = config
        self._config_path = config_path
        # The demo reads the person's config but never writes to it: choices made on demo
        # data (an `exec:` tool rule, say) must not follow them to their own sessions.
        self.save_settings = save_settings
        self._start_session = start_session

    @property
    def loaded_store(self) -> Store:
        """The open store, for screens that only open once it has loaded (all but sessions)."""
        if self.store is None:
            raise NotLoadedError("the store was read before it finished opening")
        return self.store

    @property
    def loaded_config(self) -> Config:
        """The validated config, for screens that only open once the store has loaded."""
        if self.config is None:
            raise NotLoadedError("the settings were read before they finished loading")
        return self.config

    def on_mount(self) -> None:
        raw = {} if self.config is not None else peek_config(self._config_path)
        theme = self.config.theme if self.config is not None else raw.get("theme")
        keymap = self.config.keymap if self.config is not None else raw.get("keymap")
        if isinstance(theme, str) and theme:
            if theme in self.available_themes:
                self.theme = theme
            else:
                self.notify(f"unknown theme {theme!r}", severity="warning")
        if isinstance(keymap, dict) and keymap:
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        from tui.screens.sessions import SessionsScreen

        if self.store is None:
            self.peek = self._peek()
        self.push_screen(SessionsScreen())
        self.call_after_refresh(heap.settle)  # modules and the first screen live long
        if self.store is not None and self.config is not None:
            self._store_loaded()
        else:
            self.call_after_refresh(self.load_store)

    def _peek(self) -> Peek | None:
        """The first rows with plain sqlite3: the list shows them in the first frame."""
        from core.store import default_db_path
        from core.store.peek import Peek

        path = self._store_path
        return Peek.open(Path(path) if path else default_db_path())

    @work(thread=True, exclusive=True, group="startup",
          description="opening the store", exit_on_error=False)
    def load_store(self) -> None:
        if self.store is None and self.peek is not None:
            # The first frame (rows read by `peek`) must reach the terminal before this
            # thread's imports and the store's open compete with the thread that writes it:
            # started at once, they delayed the rows on screen by ~100 ms in a real terminal.
            time.sleep(FIRST_FRAME_WRITE_S)
        from tui.config import Config, load_config

        config, error = (self.config, None) if self.config is not None else (
            load_config(self._config_path) if self._config_path else (Config(), None)
        )
        if config is not None and config.keymap:
            from tui.navigation import keymap_problem

            # A misspelt id is named, not ignored, in the same message as the config's others.
            if problem := keymap_problem(config.keymap):
                error = f"{error} {problem}" if error else problem
        store = self.store
        try:
            if store is None:
                from core.store import Store, default_db_path

                path = self._store_path
                store = Store(Path(path) if path else default_db_path())
        except Exception as exc:  # a broken store is a message, not a traceback
            where = self._store_path or "the default store"
            self.post_message(StoreReady(None, config, f"cannot open the store {where}: {exc}."
                                         " Pass --db with a reprise store, or a new file name"
                                         " to start an empty one."))
            return
        self.post_message(StoreReady(store, config, error))

    def _handle_exception(self, error: Exception) -> None:
        """A store fault (locked, disk full, deleted, damaged) is a notification, not a crash.

        Workers that touch the store raise `StoreError`; Textual would end the app with a
        traceback. Anything else keeps Textual's behaviour.
        """
        store_module = sys.modules.get("core.store")
        cause = getattr(error, "error", error)  # a WorkerFailed wraps the worker's exception
        if store_module is not None and isinstance(
            cause, store_module.StoreError | store_module.sqlite3.Error
        ):
            path = self.store.path if self.store is not None else "(the store)"
            self.notify(
                store_module.describe_store_error(cause, path),
                title="store",
                severity="error",
                timeout=20,
            )
            return
        super()._handle_exception(error)

    def on_store_ready(self, message: StoreReady) -> None:
        self.config = message.config
        self.store = message.store
        peek, self.peek = self.peek, None
        if peek is not None:
            peek.close()
        if message.error and self.store is None:
            # Nothing to show without a store: leave with the reason and a non-zero status.
            self.exit(return_code=1, message=f"reprise: {message.error}")
            return
        if message.error:
            self.notify(message.error, title="settings", severity="error", timeout=20)
        if self.store is not None:
            self._store_loaded()

    def _store_loaded(self) -> None:
        from tui.screens.sessions import SessionsScreen

        for screen in self.screen_stack:
            if isinstance(screen, SessionsScreen):
                screen.store_ready()
        self._data_version: int | None = None
        self.set_interval(STORE_POLL_SECONDS, self.watch_store, name="store-watch")
        if self._start_session:
            self.open_session(self._start_session)

    @work(thread=True, exclusive=True, group="store-watch",
          description="watching the store for changes", exit_on_error=False)
    def watch_store(self) -> None:
        """Sessions recorded or imported by another process show up without a restart."""
        store = self.store
        if store is None:
            return
        try:
            version = store.data_version()
        except Exception:  # a store gone away is reported where it is used
            return
        previous, self._data_version = self._data_version, version
        # The first look also refreshes: a write may have landed between the screens' first
        # query and this baseline.
        if version != previous:
            self.post_message(StoreChanged())

    def on_store_changed(self, message: StoreChanged) -> None:
        for screen in self.screen_stack:
            refresh = getattr(screen, "store_changed", None)
            if callable(refresh):
                refresh()

    # -- navigation ------------------------------------------------------------------------
    def open_session(self, session_id: str) -> None:
        from tui.screens.session import SessionScreen

        if self.store is None:  # picked from the first rows: opens once the store is open
            self._start_session = session_id
            return
        if self.store.get_session(session_id) is None:
            # `reprise open` takes the short ids the CLI and the sessions list print.
            matches = self.store.session_ids_starting(session_id, limit=2) if session_id else []
            if len(matches) != 1:
                self.notify(f"no session {session_id}" if not matches else
                            f"session id {session_id} is ambiguous; give more characters",
                            severity="error")
                return
            session_id = matches[0]
        self.push_screen(SessionScreen(session_id))

    # -- actions ---------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; with unsent edits or a replay running, the first press only warns."""
        reasons = self._unfinished_work()
        if reasons and not self._quit_armed:
            self._quit_armed = True
            self.notify(f"{' and '.join(reasons)}: press again to quit", title="quit",
                        severity="warning")
            self.set_timer(4, self._disarm_quit)
            return
        self.exit()

    def _disarm_quit(self) -> None:
        self._quit_armed = False

    def _unfinished_work(self) -> list[str]:
        reasons = []
        edits = [getattr(screen, "edits", None) for screen in self.screen_stack]
        if any(not e.is_empty for e in self.pending_edits.values()) or any(
            e is not None and not e.is_empty for e in edits
        ):
            reasons.append("pending edits would be lost")
        if any(w.is_running and w.group in ("replay", "matrix") for w in self.workers):
            reasons.append("a replay is running (finished results are kept)")
        return reasons

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen.for_focus(self.screen))

    async def action_nav(self, key: str) -> None:
        """j/k/g/G: run the focused widget's own ↓/↑/Home/End binding (docs/tui.md)."""
        node: DOMNode | None = self.focused
        while node is not None and node is not self.screen:
            for binding in node._bindings.key_to_bindings.get(key, ()):
                await self.run_action(binding.action, node)
                return
            node = node.parent

    def action_copy(self) -> None:
        """`y`: copy what has focus; the toast says what was copied."""
        copied: tuple[str, str] | None = None
        focused = self.focused
        for node in (*(focused.ancestors_with_self if focused else ()), self.screen):
            getter = getattr(node, "copy_text", None)
            text = getter() if callable(getter) else None
            if text:
                copied = text, getattr(node, "copy_what", "the text")
                break
        if copied is None and focused is not None:
            copied = copy_of(focused)
        if not copied or not copied[0]:
            self.notify("nothing to copy here", severity="warning")
            return
        text, what = copied
        self.copy_to_clipboard(text)
        preview = " ".join(text.split())
        preview = preview if len(preview) <= 40 else preview[:39] + "…"
        self.notify(f"copied {what} ({len(text):,} characters): {preview}", title="copy")

    def action_matrices(self) -> None:
        from tui.screens.matrix import MatricesScreen, MatrixScreen

        def done(matrix_id: str | None) -> None:
            if matrix_id:
                self.push_screen(MatrixScreen(matrix_id=matrix_id))

        self.push_screen(MatricesScreen(), done)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's "Keys" panel duplicates F1 help, which also lists binding ids.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Keys")
        yield SystemCommand("Help", "Help for the focused widget (F1)", self.action_help)
        from tui.screens.sessions import SessionsScreen

        if not isinstance(screen, SessionsScreen):
            yield SystemCommand("Sessions", "Back to the sessions list", self._to_sessions)
        if self.store is not None:
            yield SystemCommand("Matrices", "Reopen a prompt-version matrix", self.action_matrices)
        commands = getattr(screen, "palette_commands", None)
        if callable(commands):
            yield from commands()

    def _to_sessions(self) -> None:
        from tui.screens.sessions import SessionsScreen

        while len(self.screen_stack) > 2 and not isinstance(self.screen, SessionsScreen):
            self.pop_screen()

    # -- text from sessions is shown literally, wherever it appears ------------------------
    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is literal: names and errors may carry markup or controls."""
        from core.text import literal

        super().notify(literal(message), title=literal(title), severity=severity,
                       timeout=timeout, markup=False)

    def format_title(self, title: str, sub_title: str) -> Content:
        from core.text import literal

        return super().format_title(literal(title), literal(sub_title))

    # -- errors never become tracebacks ----------------------------------------------------
    def report_error(self, what: str, exc: BaseException) -> None:
        """One notification for a failure; keys in its text are masked (core.keys.redact)."""
        from core.keys import redact

        message = redact(str(exc)) or type(exc).__name__
        self.notify(f"{what}: {message}", title="error", severity="error", timeout=8)

    def request_or_none(self, request_id: str) -> LoggedRequest | None:
        try:
            return self.loaded_store.get_request(request_id)
        except Exception as exc:  # a corrupt row must not crash the UI
            self.report_error("cannot read request", exc)
            return None

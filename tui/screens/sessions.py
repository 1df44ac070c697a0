"""Sessions screen: filter + the paged sessions table, or how to get sessions when empty."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tui.widgets.session_list import SessionList

EMPTY_HELP = """\
No sessions in this store yet.

Import exported Helicone requests (JSON / JSONL):
    reprise import ./helicone-export.json

Pull sessions from Helicone (needs HELICONE_API_KEY):
    reprise pull --since 7d

Or try the built-in demo sessions:
    reprise demo
"""


class SessionsScreen(Screen[None]):
    """All sessions in the store, newest first."""

    AUTO_FOCUS = "SessionList"

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="sessions.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="sessions.clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sub_title = "sessions"

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions-body"):
            yield Input(placeholder="/ filter by name, id, path, model", id="filter")
            yield SessionList(self._fetch, self._count, id="session-list")
            yield Static(EMPTY_HELP, id="empty", markup=False)
            yield Static("loading sessions…", id="sessions-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        if self.app.store is not None:
            self.store_ready()

    def _fetch(self, search: str, limit: int, offset: int, sort: str, desc: bool) -> list:
        store = self.app.store
        if store is None:
            return []
        return store.list_sessions(search, limit=limit, offset=offset, sort=sort, descending=desc)

    def _count(self, search: str) -> int:
        store = self.app.store
        return 0 if store is None else store.count_sessions(search)

    def store_ready(self) -> None:
        """Called by the app once the store is open."""
        tables = self.query(SessionList)
        if not tables:
            return  # not composed yet: on_mount will load
        table = tables.first()
        table.reload(self.query_one("#filter", Input).value)

    def on_screen_resume(self) -> None:
        # Replays may have been added while the session was open.
        if self.app.store is not None:
            self.query_one(SessionList).reload()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter" and self.app.store is not None:
            self.query_one(SessionList).reload(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        table = self.query_one(SessionList)
        table.focus()
        if table.total == 1:
            table.action_open()

    def on_session_list_changed(self, event: SessionList.Changed) -> None:
        if self.app.store is None:
            return
        table = self.query_one(SessionList)
        filtering = bool(table.search.strip())
        empty = event.total == 0 and not filtering
        self.query_one("#empty").display = empty
        table.display = not empty
        direction = "descending" if event.descending else "ascending"
        noun = "session" if event.total == 1 else "sessions"
        matching = " matching" if filtering else ""
        self.query_one("#sessions-status", Static).update(
            f"{event.total:,}{matching} {noun} · sorted by {event.sort} {direction}"
        )

    def on_session_list_opened(self, event: SessionList.Opened) -> None:
        self.app.open_session(event.session.id)

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value:
            box.value = ""
        self.query_one(SessionList).focus()

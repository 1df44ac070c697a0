"""Sessions screen: filter + the paged sessions table, or how to get sessions when empty.

Two sources: the local store (paged SQL) and Helicone (the session list paged from the API
lazily: the next page is requested only when the table needs rows beyond the loaded ones).
Opening a Helicone session pulls its requests into the local store first, in a worker.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from textual import getters, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from core.remote_sessions import RemoteListing
from tui.screens.steady import SteadyLayout
from tui.widgets.footer import Footer
from tui.widgets.session_list import SessionList
from tui.widgets.text import plural

if TYPE_CHECKING:
    from core.models import SessionSummary
    from core.store import Store
    from core.store.peek import Peek
    from tui.app import RepriseApp

class RemotePage(Message):
    """A page of Helicone sessions (or the end of the listing), posted by the list worker."""

    def __init__(self, sessions: list[SessionSummary], search: str, done: bool = False) -> None:
        self.sessions = sessions
        self.search = search
        self.done = done
        super().__init__()

EMPTY_HELP = """\
No sessions in this store yet.

Import exported Helicone requests (JSON / JSONL):
    reprise import ./helicone-export.json

Pull sessions from Helicone (needs HELICONE_API_KEY):
    reprise pull --since 7d
or browse them here: S (or ctrl+o) switches the source to Helicone.

Or try the built-in demo sessions:
    reprise demo
"""


class SessionsScreen(SteadyLayout, Screen[None]):
    """All sessions in the store, newest first."""

    if TYPE_CHECKING:  # Textual types `app` as App[Any]; this screen runs in RepriseApp
        app = getters.app(RepriseApp)

    AUTO_FOCUS = "SessionList"

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="sessions.filter",
                tooltip="Filter by name, id, path or model"),
        Binding("S,ctrl+o", "source", "Source", id="sessions.source",
                tooltip="Switch between the local store and Helicone"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="sessions.clear",
                tooltip="Clear the filter and go back to the list"),
    ]

    HELP = """\
## Sessions screen
- **/**: filter (**Escape** clears it and returns to the table)
- **S** / **ctrl+o**: switch the source between the local store and Helicone (needs `HELICONE_API_KEY`;
  `[helicone] base_url`, `region` and `since` in config.toml). Helicone sessions are listed
  page by page as you scroll; opening one pulls its requests into the local store.
"""

    def __init__(self) -> None:
        super().__init__()
        self.sub_title = "sessions"
        self.source = "local"
        self.listing = RemoteListing()  # the Helicone listing (core.remote_sessions)
        self.helicone_config: Any = None
        self._more = asyncio.Event()
        self.list_worker: Worker[Any] | None = None

    @property
    def remote(self) -> list[SessionSummary]:
        """The Helicone sessions loaded so far."""
        return self.listing.sessions

    @property
    def remote_done(self) -> bool:
        return self.listing.done

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions-body"):
            yield Input(placeholder="/ filter by name, id, path, model", id="filter")
            yield SessionList(self._fetch, self._count, id="session-list")
            empty = Static(EMPTY_HELP, id="empty", markup=False)
            empty.can_focus = True  # so that S reaches the screen instead of the filter
            yield empty
            yield Static("loading sessions…", id="sessions-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        if self._local() is not None:
            self.store_ready()

    def _local(self) -> Store | Peek | None:
        """The store, or until it is open the app's read-only peek at its first rows."""
        return self.app.store if self.app.store is not None else self.app.peek

    def _fetch(self, search: str, limit: int, offset: int, sort: str, desc: bool) -> list:
        if self.source == "helicone":
            rows = self.listing.rows(offset, limit, sort, desc)
            if self.listing.wants_more:
                self._more.set()  # the table wants rows beyond the loaded pages
            return rows
        store = self._local()
        if store is None:
            return []
        return store.list_sessions(search, limit=limit, offset=offset, sort=sort, descending=desc)

    def _count(self, search: str) -> int:
        if self.source == "helicone":
            return self.listing.count()
        store = self._local()
        return 0 if store is None else store.count_sessions(search)

    def store_ready(self) -> None:
        """Called by the app once the store is open."""
        tables = self.query(SessionList)
        if not tables:
            return  # not composed yet: on_mount will load
        table = tables.first()
        table.reload(self.query_one("#filter", Input).value)

    def store_changed(self) -> None:
        """New sessions or requests arrived from another process (`reprise record`)."""
        if self.source != "helicone" and self.app.store is not None:
            for listing in self.query(SessionList):  # none yet while the screen composes
                listing.reload()

    def on_screen_resume(self) -> None:
        # Replays may have been added while the session was open.
        if self.app.store is not None:
            self.query_one(SessionList).reload()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter" or self._local() is None:
            return
        if self.source == "helicone":
            self._list_remote(event.value)
        else:
            self.query_one(SessionList).reload(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        table = self.query_one(SessionList)
        table.focus()
        if table.total == 1:
            table.action_open()

    def on_session_list_changed(self, event: SessionList.Changed) -> None:
        if self._local() is None:
            return
        table = self.query_one(SessionList)
        filtering = bool(table.search.strip())
        if self.source == "helicone":
            self.query_one("#empty").display = False
            table.display = True
            direction = "descending" if event.descending else "ascending"
            more = "all loaded" if self.remote_done else "more load as you scroll"
            since = self.app.config.helicone.since if self.app.config else "7d"
            self.query_one("#sessions-status", Static).update(
                f"Helicone · last {since} · {len(self.remote):,} sessions ({more})"
                f" · sorted by {event.sort} {direction} · S: local store"
            )
            return
        empty = event.total == 0 and not filtering
        self.query_one("#empty").display = empty
        table.display = not empty
        if empty and (self.focused is None or self.focused is table):
            self.query_one("#empty").focus()
        elif not empty and (self.focused is None or self.focused.id == "empty"):
            table.focus()  # the first sessions arrived (recorded live, or imported)
        direction = "descending" if event.descending else "ascending"
        noun = "session" if event.total == 1 else "sessions"
        matching = " matching" if filtering else ""
        self.query_one("#sessions-status", Static).update(
            f"{event.total:,}{matching} {noun} · sorted by {event.sort} {direction}"
        )

    def on_session_list_opened(self, event: SessionList.Opened) -> None:
        if self.source == "helicone":
            self._pull(event.session)
            return
        self.app.open_session(event.session.id)

    # -- Helicone ----------------------------------------------------------------------------
    def action_source(self) -> None:
        if self.app.store is None:
            return
        table = self.query_one(SessionList)
        if self.source == "helicone":
            self.source = "local"
            self.sub_title = "sessions"
            self.workers.cancel_group(self, "helicone-list")
            table.reload(self.query_one("#filter", Input).value)
            self.notify("sessions from the local store", title="source")
            return
        from core.sources.helicone import HeliconeConfig, HeliconeError

        settings = self.app.config.helicone if self.app.config else None
        try:
            self.helicone_config = HeliconeConfig.from_env(
                region=settings.region if settings else None,
                base_url=settings.base_url if settings else None,
            )
        except HeliconeError as exc:
            self.notify(f"{exc}. Staying on the local store.", title="Helicone",
                        severity="warning", timeout=10)
            return
        self.source = "helicone"
        self.sub_title = "sessions · Helicone"
        self._list_remote(self.query_one("#filter", Input).value)
        table.focus()

    def _list_remote(self, search: str) -> None:
        self.listing = RemoteListing(search)
        self._more = asyncio.Event()
        self.query_one(SessionList).reload(search)
        self.query_one("#sessions-status", Static).update("Helicone · loading sessions…")
        self.list_worker = self.list_remote(search, self._more)

    @work(exclusive=True, group="helicone-list",
          description="listing Helicone sessions", exit_on_error=False)
    async def list_remote(self, search: str, more: asyncio.Event) -> None:
        from core.sources.helicone import HeliconeClient, parse_since

        settings = self.app.config.helicone if self.app.config else None
        since = parse_since(settings.since if settings else "7d")
        async with HeliconeClient(self.helicone_config) as client:
            async for page in client.iter_sessions(search=search, since=since):
                more.clear()
                self.post_message(RemotePage(page, search))
                await more.wait()
        self.post_message(RemotePage([], search, done=True))

    def on_remote_page(self, message: RemotePage) -> None:
        if self.source != "helicone" or message.search != self.listing.search:
            return  # a page of a listing that was replaced
        self.listing.add_page(message.sessions, done=message.done)
        self.query_one(SessionList).reload()

    def _pull(self, summary: SessionSummary) -> None:
        name = summary.name or summary.id
        self.notify(f"pulling {name} ({plural(summary.requests, 'request')}) from Helicone…",
                    title="Helicone")
        self.pull_session(summary)

    @work(group="helicone-pull",
          description="pulling a Helicone session", exit_on_error=False)
    async def pull_session(self, summary: SessionSummary) -> tuple[str, Any]:
        from core.sources.helicone import HeliconeClient, pull

        async with HeliconeClient(self.helicone_config) as client:
            report = await pull(self.app.loaded_store, client, session_ids=[summary.id],
                                since=summary.started_at - timedelta(hours=1))
        return summary.id, report

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if group == "helicone-list" and event.state == WorkerState.ERROR:
            if event.worker is self.list_worker:
                self.listing.done = True
                self.query_one("#sessions-status", Static).update(
                    "Helicone · listing failed · S: local store")
                self.app.report_error("Helicone", event.worker.error or RuntimeError())
        elif group == "helicone-pull":
            if event.state == WorkerState.ERROR:
                self.app.report_error("pull failed", event.worker.error or RuntimeError())
            elif event.state == WorkerState.SUCCESS:
                session_id, report = cast("tuple[str, Any]", event.worker.result)  # pull_session
                if report.errors:
                    self.notify(f"{len(report.errors)} problem(s): {report.errors[0]}",
                                title="Helicone", severity="warning", timeout=10)
                if self.app.loaded_store.get_session(session_id) is None:
                    return
                self.notify(f"pulled {plural(report.requests, 'request')} into the local store",
                            title="Helicone")
                self.app.open_session(session_id)

    def palette_commands(self) -> list[SystemCommand]:
        other = "local store" if self.source == "helicone" else "Helicone"
        return [SystemCommand(f"Sessions from {other}", "Switch the sessions source (S)",
                              self.action_source)]

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value:
            box.value = ""
        self.query_one(SessionList).focus()

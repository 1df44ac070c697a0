"""The sessions table: a line-API scroll view fed by paged SQL queries.

Only the visible rows are ever rendered, and rows are fetched a page at a time, so opening
or filtering 10,000 sessions costs one `COUNT` and one `LIMIT` query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.text import literal
from tui.widgets.text import duration, money, short

if TYPE_CHECKING:
    from core.models import SessionSummary

PAGE = 200


@dataclass(frozen=True)
class Column:
    key: str  # sort key understood by Store.list_sessions
    title: str
    width: int  # 0: takes the remaining width
    right: bool = False


COLUMNS = [
    Column("name", "Name", 0),
    Column("id", "Id", 14),
    Column("started_at", "Started", 17),
    Column("requests", "Requests", 9, True),
    Column("duration", "Duration", 9, True),
    Column("cost", "Cost", 9, True),
    Column("replays", "Replays", 8, True),
]

# Columns dropped, in this order, while the name would be narrower than MIN_NAME.
DROP_ORDER = ("id", "duration", "replays", "cost", "started_at")
MIN_NAME = 20

# (search, limit, offset, sort, descending) -> rows
Fetch = Callable[[str, int, int, str, bool], "list[SessionSummary]"]
Count = Callable[[str], int]


class SessionList(ScrollView, can_focus=True):
    """Sessions with a cursor row and a header showing the sort column."""

    COMPONENT_CLASSES = {
        "session-list--header",
        "session-list--cursor",
        "session-list--sorted",
        "session-list--dim",
    }

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="sessions.up",
                tooltip="Previous session"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="sessions.down",
                tooltip="Next session"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="sessions.page_up",
                tooltip="One page up"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="sessions.page_down",
                tooltip="One page down"),
        Binding("home,g", "jump(0)", "First", show=False, id="sessions.first",
                tooltip="First session"),
        Binding("end,G", "jump(-1)", "Last", show=False, id="sessions.last",
                tooltip="Last session"),
        Binding("enter", "open", "Open", id="sessions.open",
                tooltip="Open the highlighted session"),
        Binding("o", "sort_next", "Sort", id="sessions.sort", tooltip="Sort by the next column"),
        Binding("O", "sort_reverse", "Reverse", id="sessions.reverse",
                tooltip="Reverse the sort order"),
    ]

    HELP = """\
## Sessions table
- **↑/↓**, **j/k**: move · **PgUp/PgDn**, **ctrl+b/f**: page · **g/G**, **Home/End**: first/last
- **Enter**: open the session
- **o**: sort by the next column · **O**: reverse the order · click a header to sort by it
- **/**: filter by name, id, path or model (`no session` lists requests logged without one)

A row marked **◦** is one request logged without a `Helicone-Session-Id`: it opens, edits,
replays and diffs like any session, under its request id.
"""

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Opened(Message):
        def __init__(self, session: SessionSummary) -> None:
            self.session = session
            super().__init__()

    class Changed(Message):
        """The number of matching sessions or the sort changed."""

        def __init__(self, total: int, sort: str, descending: bool) -> None:
            self.total = total
            self.sort = sort
            self.descending = descending
            super().__init__()

    def __init__(self, fetch: Fetch, count: Count, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fetch = fetch
        self._count = count
        self.search = ""
        self.sort = "started_at"
        self.descending = True
        self.total = 0
        self._pages: dict[int, list[SessionSummary]] = {}

    # -- data ------------------------------------------------------------------------------
    def reload(self, search: str | None = None) -> None:
        """Query again (after a filter, sort or import change) and repaint."""
        if search is not None:
            self.search = search
        self._pages.clear()
        self.total = self._count(self.search)
        self.virtual_size = Size(self.size.width, self.total + 1)
        self.cursor = max(0, min(self.cursor, self.total - 1)) if self.total else 0
        if search is not None:
            self.cursor = 0
            self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Changed(self.total, self.sort, self.descending))

    def row(self, index: int) -> SessionSummary | None:
        if not 0 <= index < self.total:
            return None
        page, offset = divmod(index, PAGE)
        rows = self._pages.get(page)
        if rows is None:
            rows = self._fetch(self.search, PAGE, page * PAGE, self.sort, self.descending)
            self._pages[page] = rows
        return rows[offset] if offset < len(rows) else None

    @property
    def selected(self) -> SessionSummary | None:
        return self.row(self.cursor)

    def set_sort(self, key: str, descending: bool | None = None) -> None:
        if descending is None:
            descending = not self.descending if key == self.sort else key != "name"
        self.sort, self.descending = key, descending
        self.reload()

    # -- actions ---------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        self.move_to(0 if where == 0 else self.total - 1)

    def action_open(self) -> None:
        session = self.selected
        if session is not None:
            self.post_message(self.Opened(session))

    def action_sort_next(self) -> None:
        keys = [c.key for c in COLUMNS]
        self.set_sort(keys[(keys.index(self.sort) + 1) % len(keys)])

    def action_sort_reverse(self) -> None:
        self.set_sort(self.sort, not self.descending)

    def move_to(self, index: int) -> None:
        if not self.total:
            return
        self.cursor = max(0, min(index, self.total - 1))
        self._scroll_cursor_into_view()

    def _scroll_cursor_into_view(self) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def watch_cursor(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.total + 1)

    async def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            key = self._column_at(event.x)
            if key:
                self.set_sort(key)
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < self.total:
            if index == self.cursor and event.chain >= 2:
                self.action_open()
            self.cursor = index

    # -- rendering -------------------------------------------------------------------------
    def _layout(self, width: int) -> list[tuple[int, int]]:
        """(column index, width) of the columns shown: narrow terminals drop the least
        useful columns first so the name stays readable."""
        shown = list(range(len(COLUMNS)))
        for key in DROP_ORDER:
            fixed = sum(COLUMNS[i].width + 1 for i in shown if COLUMNS[i].width)
            if width - fixed - 1 >= MIN_NAME:
                break
            shown.remove(next(i for i in shown if COLUMNS[i].key == key))
        fixed = sum(COLUMNS[i].width + 1 for i in shown if COLUMNS[i].width)
        name = max(8, width - fixed - 1)
        return [(i, COLUMNS[i].width or name) for i in shown]

    def _column_at(self, x: int) -> str | None:
        left = 1
        for index, width in self._layout(self.size.width):
            if left <= x < left + width + 1:
                return COLUMNS[index].key
            left += width + 1
        return None

    def _cells(self, session: SessionSummary) -> list[str]:
        return [
            ("◦ " if session.sessionless else "") + (literal(session.name) or "(unnamed)"),
            literal(session.id),
            _when(session.started_at),
            str(session.requests),
            duration(session.duration_s),
            money(session.cost),
            str(session.replays) if session.replays else "–",
        ]

    def _line(self, cells: list[str], width: int, style: Style) -> Strip:
        parts = [" "]
        for index, size in self._layout(width):
            column, text = COLUMNS[index], short(cells[index], size)
            parts.append((text.rjust(size) if column.right else text.ljust(size)) + " ")
        line = "".join(parts)
        return Strip([Segment(line[:width].ljust(width), style)], width)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("session-list--header")
            titles = []
            for column in COLUMNS:
                mark = ""
                if column.key == self.sort:
                    mark = " ▼" if self.descending else " ▲"
                titles.append(column.title + mark)
            return self._line(titles, width, base + header)
        index = int(self.scroll_y) + y - 1
        session = self.row(index)
        if session is None:
            return Strip.blank(width, base)
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style(
                "session-list--cursor", partial=not self.has_focus
            )
        return self._line(self._cells(session), width, style)


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment.tzinfo else str(moment)[:16]

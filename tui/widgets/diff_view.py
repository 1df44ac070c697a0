"""Scrollable word-diff viewer that draws only the visible rows, even for huge responses."""

from __future__ import annotations

import time
from collections.abc import Mapping

from rich.segment import Segment
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from core.diff import DiffResult
from core.render import DiffLayout, DiffStyles
from tui.widgets.badges import DIFF_CLASSES, diff_style

# A long diff is laid out in slices of this many seconds, this far apart, after its first
# screen is shown.
_SLICE = 0.008
_SLICE_GAP = 0.01


class DiffView(ScrollView, can_focus=True):
    """Inline or side-by-side view of a ``DiffResult``.

    Only what the screen shows is laid out before the first paint; the rest of a long diff
    is wrapped in short slices between frames (cached per width in a ``DiffLayout``), and
    each visible row is turned into a ``Strip`` on demand, so opening and scrolling a
    50,000-word diff stays smooth.
    Content is literal: markup and escape sequences in a response are shown as text.
    Inserted and removed words take their colours from the theme (`diff--inserted`,
    `diff--removed` in app.tcss) unless a `theme` mapping is given.
    """

    COMPONENT_CLASSES = DIFF_CLASSES

    DEFAULT_CSS = """
    DiffView {
        height: 1fr;
        overflow-x: hidden;
    }
    """

    BINDINGS = [
        Binding("s", "toggle_side_by_side", "Side by side", id="diff_view.side_by_side",
                tooltip="Inline or side by side"),
    ]

    side_by_side: reactive[bool] = reactive(False)

    def __init__(
        self,
        result: DiffResult | None = None,
        *,
        side_by_side: bool = False,
        theme: Mapping[str, str] | DiffStyles | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's widget signature
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._result = result or DiffResult([], 1.0, 0, 0, 0, 0)
        self._theme = DiffStyles.from_theme(theme)
        self._fixed_theme = theme is not None
        self._layouts: dict[bool, DiffLayout] = {}
        self._strips: dict[int, Strip] = {}
        self._layout_timer: Timer | None = None
        self.set_reactive(DiffView.side_by_side, side_by_side)

    def on_mount(self) -> None:
        self._apply_theme()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._apply_theme())

    def _apply_theme(self) -> None:
        """Take the diff colours from the stylesheet (the theme); lay out again if they moved."""
        if self._fixed_theme:
            return
        styles = DiffStyles(
            deleted=str(diff_style(self, "removed")),
            inserted=str(diff_style(self, "inserted")),
            marker=str(diff_style(self, "marker", partial=True)),
        )
        if styles != self._theme:
            self._theme = styles
            self._layouts.clear()
            self._strips.clear()
            self._relayout()

    @property
    def result(self) -> DiffResult:
        """The diff being shown."""
        return self._result

    def set_result(self, result: DiffResult) -> None:
        """Show another diff (e.g. after a new replay) from the top."""
        self._result = result
        # freeing a huge previous layout takes a while: do it after the new first screen
        retired, self._layouts = self._layouts, {}
        self.call_after_refresh(lambda: retired.clear())
        self._relayout(top=0)
        self.scroll_to(0, 0, animate=False)

    @property
    def layout_rows(self) -> DiffLayout:
        """Layout for the current mode, created on first use."""
        layout = self._layouts.get(self.side_by_side)
        if layout is None:
            layout = DiffLayout(self._result, self._theme, side_by_side=self.side_by_side)
            self._layouts[self.side_by_side] = layout
        return layout

    def action_toggle_side_by_side(self) -> None:
        """Switch between inline and two columns."""
        self.side_by_side = not self.side_by_side

    def watch_side_by_side(self, _old: bool, _new: bool) -> None:
        self._relayout()

    def on_resize(self) -> None:
        self._relayout()

    def _relayout(self, top: int | None = None) -> None:
        width = self.scrollable_content_region.width or self.size.width
        if width <= 0:
            return
        # lay out just what the screen shows now; the rest follows in short slices
        top = self.scroll_offset.y if top is None else top
        self.layout_rows.set_width(width, rows=top + self.size.height + 1)
        self._strips.clear()
        self._sync_size(width)
        self.refresh()
        self.call_after_refresh(self._schedule_layout)  # the first screen is painted first

    def _sync_size(self, width: int) -> None:
        layout = self.layout_rows
        rows = layout.row_count if layout.complete else layout.estimated_rows()
        self.virtual_size = Size(width, rows)

    def _schedule_layout(self) -> None:
        if not self.layout_rows.complete and self._layout_timer is None:
            self._layout_timer = self.set_timer(_SLICE_GAP, self._continue_layout)

    def _continue_layout(self) -> None:
        """Lay out more of a long diff for a few milliseconds, between frames."""
        self._layout_timer = None
        layout = self.layout_rows
        if layout.width < 1:
            return
        deadline = time.perf_counter() + _SLICE
        while not layout.advance(200) and time.perf_counter() < deadline:
            pass
        self._sync_size(layout.width)
        self._schedule_layout()

    def render_line(self, y: int) -> Strip:
        """One visible row; rows are cached until the width or mode changes."""
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width or self.size.width
        style = self.rich_style
        layout = self.layout_rows
        if layout.width != max(1, width):
            self._relayout()
        strip = self._strips.get(row)
        if strip is None:
            if row >= layout.row_count and layout.complete:
                return Strip.blank(width, style)
            text = layout.row(row)  # lays out further when scrolled past what is ready
            if row >= layout.row_count:
                return Strip.blank(width, style)
            segments = list(text.render(self.app.console))
            strip = Strip(Segment.apply_style(segments, style), text.cell_len)
            if len(self._strips) > 2000:
                self._strips.clear()
            self._strips[row] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style)

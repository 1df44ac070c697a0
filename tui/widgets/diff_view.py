"""Scrollable word-diff viewer that draws only the visible rows, even for huge responses."""

from __future__ import annotations

from collections.abc import Mapping

from rich.segment import Segment
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.diff import DiffResult
from core.render import DiffLayout, DiffStyles


class DiffView(ScrollView, can_focus=True):
    """Inline or side-by-side view of a ``DiffResult``.

    Rows are wrapped once per width (cached in a ``DiffLayout``) and each visible row is
    turned into a ``Strip`` on demand, so scrolling a 50,000-word diff stays smooth.
    Content is literal: markup and escape sequences in a response are shown as text.
    """

    DEFAULT_CSS = """
    DiffView {
        height: 1fr;
        overflow-x: hidden;
    }
    """

    BINDINGS = [("s", "toggle_side_by_side", "Side by side")]

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
        self._layouts: dict[bool, DiffLayout] = {}
        self._strips: dict[int, Strip] = {}
        self.set_reactive(DiffView.side_by_side, side_by_side)

    @property
    def result(self) -> DiffResult:
        """The diff being shown."""
        return self._result

    def set_result(self, result: DiffResult) -> None:
        """Show another diff (e.g. after a new replay) from the top."""
        self._result = result
        self._layouts.clear()
        self._relayout()
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

    def _relayout(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        if width <= 0:
            return
        rows = self.layout_rows.set_width(width)
        self._strips.clear()
        self.virtual_size = Size(width, rows)
        self.refresh()

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
            if row >= layout.row_count:
                return Strip.blank(width, style)
            text = layout.row(row)
            segments = list(text.render(self.app.console))
            strip = Strip(Segment.apply_style(segments, style), text.cell_len)
            if len(self._strips) > 2000:
                self._strips.clear()
            self._strips[row] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style)

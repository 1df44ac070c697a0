"""A modal's dimmed view of the screen behind it, drawn once when it opens.

Textual draws a modal's backdrop by rendering the whole screen behind it and tinting every
piece of it. It does that again whenever any part of the backdrop is repainted: a footer key
changing under a form repainted a 31-cell strip at the cost of the whole session screen
(45 ms on a 520-request session at 120×36). Here the tinted backdrop is kept, per size and
theme, for as long as the modal is open. The screen behind shows as it was when the modal
opened; it is drawn again, live, once the modal closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from textual.renderables.background_screen import BackgroundScreen

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[Any]
else:
    _Base = object


class _Lines:
    """Lines rendered before, given again as they were."""

    def __init__(self, lines: list[list[Segment]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        new_line = Segment.line()
        for line in self.lines:
            yield from line
            yield new_line


class FrozenBackdrop(_Base):
    """Mix in before Textual's ModalScreen."""

    _backdrop: tuple[tuple[int, int, str], _Lines] | None = None

    def render(self) -> RenderableType:
        rendered = super().render()
        if not isinstance(rendered, BackgroundScreen):
            return rendered
        width, height = self.size
        key = (width, height, self.app.theme)
        if self._backdrop is None or self._backdrop[0] != key:
            console = self.app.console
            options = console.options.update_dimensions(width, height)
            self._backdrop = (key, _Lines(console.render_lines(rendered, options)))
        return self._backdrop[1]

"""Screens that are laid out and styled once when they appear, not again for the same size.

When a screen is pushed, Textual lays it out and styles it on resume, and then answers the
`Resize` that first layout posts: a second full layout, of the screen and of every screen
visible behind it, at the size they already have, and the app's breakpoint classes
(`-narrow`/`-wide`) added then, which restyle every widget of the screen once more. On a
120×36 terminal that is 30–50 ms more on the frame that shows a form or the session: the
difference between a modal that opens within the 50 ms a keypress may take and one that does
not. Here the breakpoint classes are set before the screen is first styled, and a layout at
the size already arranged is skipped. A real terminal resize changes the size and still
lays everything out and restyles what the breakpoints change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual._context import NoActiveAppError
from textual.geometry import Size

if TYPE_CHECKING:
    from textual.screen import Screen

    _Base = Screen[Any]
else:
    _Base = object


class SteadyLayout(_Base):
    """Mix in before Textual's Screen or ModalScreen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set_breakpoint_classes()

    def _set_breakpoint_classes(self) -> None:
        """The classes the screen's first `Resize` would add, set before it is styled."""
        try:
            app = self.app
        except NoActiveAppError:
            return  # built outside a running app: the first Resize sets them
        width, height = app.size
        classes: dict[str, bool] = {}
        horizontal = (app.HORIZONTAL_BREAKPOINTS if self.HORIZONTAL_BREAKPOINTS is None
                      else self.HORIZONTAL_BREAKPOINTS)
        vertical = (app.VERTICAL_BREAKPOINTS if self.VERTICAL_BREAKPOINTS is None
                    else self.VERTICAL_BREAKPOINTS)
        for breakpoints, dimension in ((horizontal or [], width), (vertical or [], height)):
            classes.update({name: False for _, name in breakpoints})
            classes.update({name: True for name in
                            self._get_breakpoint_classes(dimension, breakpoints)})
        self.update_classes(classes, update=False)

    def _screen_resized(self, size: Size) -> None:
        if self._compositor.size == size:
            return  # already arranged at this size: nothing to lay out again
        super()._screen_resized(size)

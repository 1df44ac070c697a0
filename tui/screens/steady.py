"""Screens that are styled and laid out once when they appear, not again for the same size.

When a screen is pushed, Textual styles its widgets as they are composed and then, on the
frame that shows it: styles them all again on resume, lays the screen out, and answers the
`Resize` that first layout posts with a second full layout (of the screen and of every screen
visible behind it, at the size they already have) and with the app's breakpoint classes
(`-narrow`/`-wide`), which restyle every widget once more. On a 120×36 terminal that doubled
the cost of the frame that shows a form or the session, the difference between a modal that
opens within the 50 ms a keypress may take and one that does not.

Here the breakpoint classes are set before the screen is first styled, the restyle on the
first resume is skipped, and a layout at the size already arranged is skipped. A real
terminal resize changes the size, so it still lays everything out and restyles what the
breakpoints change; later resumes (a modal closed) restyle as Textual decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual._context import NoActiveAppError
from textual.events import ScreenResume
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
        self._shown = False

    def _on_screen_resume(self, event: ScreenResume) -> None:
        """Runs before Screen's own handler: the first time, the screen was styled as it was
        composed, moments ago, with every stylesheet the app has; restyling it all again is
        the frame's largest single cost. Later resumes restyle as Textual decides."""
        if not self._shown:
            self._shown = True
            event.refresh_styles = False

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

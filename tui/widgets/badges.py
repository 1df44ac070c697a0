"""State badges and diff colours as Textual component classes, so the theme colours them.

A widget that shows them declares `COMPONENT_CLASSES = BADGE_CLASSES` (or `DIFF_CLASSES`);
their styles live in `tui/styles/app.tcss` with theme variables (`$text-success`, …), and
the rendering reads them with `get_component_rich_style`, never a hard-coded colour.
The symbols are the same everywhere: tree leaves, the diff list, the matrix and the replays.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

# Replay states of a request (core.replay.status.RequestStatus) and matrix cell statuses.
STATE_SYMBOLS = {
    "queued": "…",
    "pending": "…",
    "running": "▶",
    "retrying": "↻",
    "done": "✓",
    "failed": "✗",
    "diverged": "≠",
    "blocked": "⊘",
    "skipped": "–",
    "cancelled": "■",
    "interrupted": "■",
    "not_reached": "◌",
    "needs_tool_result": "?",
}
EDITED_SYMBOL = "✎"

BADGE_CLASSES = {f"state--{state}" for state in STATE_SYMBOLS} | {
    "state--edited",  # ✎: a pending edit applies
    "state--error",  # a non-2xx recorded status, an error line
    "state--note",  # secondary text: models, counts, latencies
    "state--added",  # a round a replayed agent added beyond the recording
    "state--count",  # a folder's request count, a prompt id, a note
    "state--warning",  # something to know before replaying
}
# Word diffs: inserted and removed words, a changed request (similarity below 100 %) and an
# unchanged one.
DIFF_CLASSES = {"diff--inserted", "diff--removed", "diff--changed", "diff--same",
                "diff--marker"}

# Used only where a widget does not declare the classes (or before the CSS is applied).
FALLBACK = {
    "queued": "dim", "pending": "dim", "running": "bold cyan", "retrying": "bold yellow",
    "done": "green", "failed": "bold red", "diverged": "bold magenta", "blocked": "red",
    "skipped": "dim", "cancelled": "dim", "interrupted": "dim", "not_reached": "dim",
    "needs_tool_result": "bold yellow", "edited": "bold yellow", "error": "bold red",
    "note": "dim", "added": "bold green", "count": "cyan", "warning": "yellow", "inserted": "bold green on #0f3318",
    "removed": "strike red on #3a1010", "changed": "yellow", "same": "green",
    "marker": "dim",
}


# Resolving a component class walks the stylesheet; a tree of 520 rows asks for the same
# few styles thousands of times per refresh, so each widget keeps what it resolved for the
# current theme (a theme switch changes the key, so nothing stale is ever shown).
_StyleKey = tuple[str, bool, str]
_resolved: WeakKeyDictionary[Widget, dict[_StyleKey, Style]] = WeakKeyDictionary()


def component_style(widget: Widget, name: str, *, partial: bool = True) -> Style:
    """The theme's style for `state--NAME` or `diff--NAME` on this widget.

    `partial`: only what the class sets (colour, text style), so a highlighted row keeps
    its cursor background.
    """
    role = name.split("--", 1)[-1]
    fallback = Style.parse(FALLBACK.get(role, ""))
    try:
        key = (name, partial, widget.app.theme)
        cache = _resolved.setdefault(widget, {})
        if (style := cache.get(key)) is None:
            style = widget.get_component_rich_style(name, partial=partial, default=fallback)
            cache[key] = style
        return style
    except Exception:  # not mounted yet: no stylesheet to ask
        return fallback


def state_style(widget: Widget, state: str) -> Style:
    return component_style(widget, f"state--{state}")


def state_badge(widget: Widget, state: str, *, with_name: bool = False) -> Text:
    """`✓ ` (or `✓ done`) in the theme's colour for that state."""
    symbol = STATE_SYMBOLS.get(state, "?")
    label = f"{symbol} {state.replace('_', ' ')}" if with_name else f"{symbol} "
    return Text(label, style=state_style(widget, state))


def diff_style(widget: Widget, role: str, *, partial: bool = False,
               foreground: bool = False) -> Style:
    """`inserted`, `removed`, `changed`, `same`, `marker` as the theme colours them.

    `foreground`: the colour alone (for counts such as `+12` on a plain line).
    """
    style = component_style(widget, f"diff--{role}", partial=partial)
    return Style(color=style.color) if foreground else style

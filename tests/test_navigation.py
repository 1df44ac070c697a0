"""One navigation model: every screen and modal answers the same keys (docs/tui.md).

Walks every screen and modal of the app on the demo store (with a stored replay and a
stored matrix) and checks there: j/k move the list or table that has focus, Tab moves
between panes, F1 opens help for what has focus, y copies and says what, the footer is the
screen in front's own, and Escape goes back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Footer, OptionList, RadioButton, RadioSet

from core.demo import demo_store_copy
from core.demo_replay import seed_demo_replay
from core.store import Store
from tests.pilot import replays_listed
from tests.test_app_matrix import seed_matrix
from tui.app import RepriseApp
from tui.config import Config, ReplayDefaults
from tui.screens.diff import DiffScreen
from tui.screens.help import HelpScreen
from tui.screens.matrix import MatricesScreen, MatrixScreen
from tui.screens.matrix_setup import MatrixSetup
from tui.screens.params import ParamsScreen
from tui.screens.replay_form import ReplayForm
from tui.screens.replays import ReplaysScreen
from tui.screens.session import SessionScreen
from tui.screens.sessions import SessionsScreen
from tui.widgets.request_tree import RequestTree
from tui.widgets.session_list import SessionList

SIZE = (100, 30)


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HELICONE_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr("core.local_model.local_runtime_available", lambda: False)
    store = Store(demo_store_copy(tmp_path))
    seed_matrix(store)
    seed_demo_replay(store)  # the newest replay: the session's current one
    yield store
    store.close()


def make_app(store: Store) -> RepriseApp:
    config = Config(replay=ReplayDefaults(target="base_url", base_url="http://127.0.0.1:9/v1"))
    return RepriseApp(store, config)


def last_message(app: RepriseApp) -> str:
    notes = list(app._notifications)
    return notes[-1].message if notes else ""


def position(widget) -> object:
    if isinstance(widget, OptionList):
        return widget.highlighted
    if isinstance(widget, DataTable):
        return widget.cursor_row
    if isinstance(widget, SessionList):
        return widget.cursor
    if isinstance(widget, RequestTree):
        return widget.cursor_line
    if isinstance(widget, RadioSet):
        return tuple(button.value for button in widget.query(RadioButton))
    return widget.scroll_y


async def check_common(pilot, screen_type: type, *, copies: str | None = None,
                       moves: bool = True) -> None:
    """The keys every screen and modal shares, checked on the screen in front."""
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, screen_type)
    # The footer is the front screen's own and lists its keys.
    footers = screen.query(Footer)
    assert footers and footers.first().display, f"{screen_type.__name__} has no footer"
    if moves:
        focused = app.focused
        before = position(focused)
        await pilot.press("j")
        await pilot.pause()
        after = position(focused)
        assert after != before, f"j did not move {focused} on {screen_type.__name__}"
        await pilot.press("k")
        await pilot.pause()
        assert position(focused) == before, f"k did not move back on {screen_type.__name__}"
    # y copies what has focus and says what it copied.
    await pilot.press("y")
    await pilot.pause()
    if copies is not None:
        message = last_message(app)
        assert message.startswith(f"copied {copies}"), message
    # F1 opens help for what has focus, Escape closes it and returns here.
    await pilot.press("f1")
    await pilot.pause()
    assert isinstance(app.screen, HelpScreen), f"F1 did nothing on {screen_type.__name__}"
    assert app.screen.query(Footer)
    await pilot.press("j")  # the help scrolls with j/k like everything else
    await pilot.press("escape")
    await pilot.pause()
    assert app.screen is screen


async def test_every_screen_and_modal_answers_the_same_keys(demo: Store) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # Sessions: the table has focus.
        await check_common(pilot, SessionsScreen)
        await pilot.press("enter")
        await pilot.pause()

        # Session: the tree; Tab reaches the request detail, Shift+Tab comes back.
        session = app.screen
        await check_common(pilot, SessionScreen, copies="the selected request's response")
        tree = session.query_one(RequestTree)
        await pilot.press("tab")
        assert app.focused is not tree
        await pilot.press("shift+tab")
        assert app.focused is tree

        # Every modal of the session: F1, y, its own footer, Escape back.
        for key, modal, copies, moves in (
            ("r", ReplayForm, "the replay target", True),
            ("m", ParamsScreen, None, False),
            ("M", MatrixSetup, None, False),
            ("R", ReplaysScreen, "the replay id", True),
        ):
            await pilot.press(key)
            await pilot.pause()
            await check_common(pilot, modal, copies=copies, moves=moves)
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is session, f"Escape did not close {modal.__name__}"

        # The replays list compares two: c marks the base, j moves, Enter diffs base → new.
        await pilot.press("R")
        await replays_listed(pilot)
        replays = app.screen
        listing = replays.query_one(OptionList)
        first = listing.get_option_at_index(0).id
        await pilot.press("c", "j", "enter")
        await pilot.pause()
        diff = app.screen
        assert isinstance(diff, DiffScreen)
        assert diff.base_id == first and diff.replay_id != first
        await pilot.press("escape")
        await pilot.pause()

        # Diff: the request list has focus; ↓ and j move it, Tab reaches the text.
        await pilot.press("d")
        await pilot.pause()
        diff = app.screen
        summary = diff.query_one("#diff-summary", OptionList)
        assert app.focused is summary
        start = summary.highlighted
        await pilot.press("down")
        assert summary.highlighted == start + 1
        await check_common(pilot, DiffScreen, copies="the replayed response")
        await pilot.press("tab")
        assert app.focused is diff.query_one("#diff-text")
        await pilot.press("shift+tab")
        assert app.focused is summary
        await pilot.press("enter")  # Enter opens the highlighted request's diff text
        assert app.focused is diff.query_one("#diff-text")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is session

        # Matrices (from the palette's command) and the matrix screen.
        app.action_matrices()
        await pilot.pause()
        await check_common(pilot, MatricesScreen, copies="the matrix id", moves=False)
        await pilot.press("enter")
        await pilot.pause()
        matrix = app.screen
        assert isinstance(matrix, MatrixScreen)
        await app.workers.wait_for_complete()  # the results table is read in a worker
        await pilot.pause()
        assert matrix.table is not None
        await check_common(pilot, MatrixScreen, copies="the matrix results")
        await pilot.press("j", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.screen is session
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)

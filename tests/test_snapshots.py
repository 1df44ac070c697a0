"""Snapshots of every screen at 120×36 on the demo store (fixed data, fixed replay)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.demo import demo_store_copy
from core.demo_replay import DEBATE_SESSION, seed_demo_replay
from core.store import Store
from tui.app import RepriseApp
from tui.config import Config, ReplayDefaults
from tui.screens.matrix_setup import PLAN_DELAY

SIZE = (120, 36)
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture
def demo_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HELICONE_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr("core.local_model.local_runtime_available", lambda: False)
    store = Store(demo_store_copy(tmp_path))
    yield store
    store.close()


def make_app(store: Store, session: str | None = None) -> RepriseApp:
    config = Config(replay=ReplayDefaults(target="base_url", base_url="http://127.0.0.1:8765/v1"))
    return RepriseApp(store, config, start_session=session)


def test_sessions_screen(snap_compare, demo_store: Store) -> None:
    assert snap_compare(make_app(demo_store), terminal_size=SIZE)


def test_sessions_filtered(snap_compare, demo_store: Store) -> None:
    assert snap_compare(make_app(demo_store), press=["slash", *"gpt"], terminal_size=SIZE)


def test_sessions_empty(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(make_app(Store(tmp_path / "empty.db")), terminal_size=SIZE)


def test_session_tree(snap_compare, demo_store: Store) -> None:
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), press=["j"], terminal_size=SIZE)


def test_editing_system_prompt(snap_compare, demo_store: Store) -> None:
    assert snap_compare(
        make_app(demo_store, DEBATE_SESSION), press=["e", *" Be strict."], terminal_size=SIZE
    )


def test_replay_form(snap_compare, demo_store: Store) -> None:
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), press=["r"], terminal_size=SIZE)


def test_replay_in_progress(snap_compare, demo_store: Store) -> None:
    seed_demo_replay(demo_store, partial=5)

    async def running(pilot) -> None:
        from tui.widgets.replay_status import ReplayStatus
        from tui.widgets.request_tree import RequestTree

        screen = pilot.app.screen
        tree = screen.query_one(RequestTree)
        status = screen.query_one(ReplayStatus)
        status.start(9, "replay → http://127.0.0.1:8765/v1")
        ids = tree.request_order()
        for index, request_id in enumerate(ids):
            state = "done" if index < 5 else "running" if index < 7 else "queued"
            tree.set_state(request_id, state)
            status.set_state(request_id, state)
        await pilot.pause()

    assert snap_compare(
        make_app(demo_store, DEBATE_SESSION), run_before=running, terminal_size=SIZE
    )


async def settled(pilot) -> None:
    """Every worker done and its messages handled: what the user sees a moment later."""
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def until(pilot, ready, timeout: float = 5.0) -> None:
    """Pause until `ready()` holds (at most `timeout` seconds, then fail)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "the screen did not settle in time"
        await settled(pilot)
        await pilot.pause(0.05)


def pressing(*keys: str):
    async def run(pilot) -> None:
        await settled(pilot)
        for key in keys:
            await pilot.press(key)
            await settled(pilot)

    return run


def test_diff_inline(snap_compare, demo_store: Store) -> None:
    seed_demo_replay(demo_store)
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), run_before=pressing("d"),
                        terminal_size=SIZE)


def test_diff_side_by_side(snap_compare, demo_store: Store) -> None:
    seed_demo_replay(demo_store)
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), run_before=pressing("d", "s"),
                        terminal_size=SIZE)


def test_help(snap_compare, demo_store: Store) -> None:
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), press=["f1"], terminal_size=SIZE)


async def fill_matrix_setup(pilot) -> None:
    """Open the matrix setup, type variants for both prompt ids, wait for the plan."""
    await pilot.press("M")
    await pilot.pause()
    screen = pilot.app.screen
    screen.query_one("#variants-0").load_text("+ Keep the feedback short.\nBe a harsh judge.")
    screen.query_one("#variants-1").load_text("model:gpt-4o temperature:0.2")
    for area in screen.query("TextArea"):
        area.cursor_blink = False  # a blinking cursor would make the picture depend on time
    await pilot.pause(PLAN_DELAY + 0.05)  # the plan follows typing after a short pause
    await settled(pilot)
    # The plan and the suggested score regex arrive from workers: wait for both (bounded).
    await until(pilot, lambda: "6 cells" in str(screen.query_one("#matrix-plan").render())
                and screen.query_one("#score-0").value)


def test_matrix_setup(snap_compare, demo_store: Store) -> None:
    assert snap_compare(
        make_app(demo_store, DEBATE_SESSION), run_before=fill_matrix_setup, terminal_size=SIZE
    )


def test_matrix_results(snap_compare, demo_store: Store) -> None:
    from tests.test_app_matrix import seed_matrix

    matrix_id = seed_matrix(demo_store)

    async def reopen(pilot) -> None:
        from tui.screens.matrix import MatrixScreen

        pilot.app.push_screen(MatrixScreen(matrix_id=matrix_id))
        await pilot.pause()
        screen = pilot.app.screen
        await until(pilot, lambda: screen.table is not None)  # its results, from a worker
        await until(pilot, lambda: _columns_sized(screen))

    assert snap_compare(make_app(demo_store), run_before=reopen, terminal_size=SIZE)


def _columns_sized(screen) -> bool:  # type: ignore[no-untyped-def]
    """The results table holds its rows and has sized its columns to them (on idle): a
    snapshot taken sooner, on a busy machine, shows cells cut to the headers' widths."""
    from textual.widgets import DataTable

    table = screen.query_one(DataTable)
    return table.row_count > 0 and not table._require_update_dimensions


# -- 80×24: every screen keeps its essential columns, truncates with `…`, never scrolls sideways.

NARROW = (80, 24)


def test_narrow_sessions(snap_compare, demo_store: Store) -> None:
    assert snap_compare(make_app(demo_store), terminal_size=NARROW)


def test_narrow_replay_in_progress(snap_compare, demo_store: Store) -> None:
    seed_demo_replay(demo_store, partial=5)

    async def running(pilot) -> None:
        from tui.widgets.replay_status import ReplayStatus
        from tui.widgets.request_tree import RequestTree

        screen = pilot.app.screen
        tree = screen.query_one(RequestTree)
        status = screen.query_one(ReplayStatus)
        status.start(9, "replay → http://127.0.0.1:8765/v1")
        for index, request_id in enumerate(tree.request_order()):
            state = "done" if index < 5 else "running" if index < 7 else "queued"
            tree.set_state(request_id, state)
            status.set_state(request_id, state)
        await pilot.pause()

    assert snap_compare(
        make_app(demo_store, DEBATE_SESSION), run_before=running, terminal_size=NARROW
    )


def test_narrow_replay_form_with_edits(snap_compare, demo_store: Store) -> None:
    assert snap_compare(
        make_app(demo_store, DEBATE_SESSION),
        press=["e", *" Be strict.", "ctrl+s", "r"], terminal_size=NARROW,
    )


def test_narrow_replays_list(snap_compare, demo_store: Store) -> None:
    from tests.test_app_matrix import seed_matrix

    seed_matrix(demo_store)  # its cell replays have fixed times: a stable snapshot
    seed_demo_replay(demo_store)
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), press=["R"],
                        terminal_size=NARROW)


def test_narrow_diff_side_by_side(snap_compare, demo_store: Store) -> None:
    seed_demo_replay(demo_store)
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), run_before=pressing("d", "s"),
                        terminal_size=NARROW)


def test_narrow_matrix_results(snap_compare, demo_store: Store) -> None:
    from tests.test_app_matrix import seed_matrix

    matrix_id = seed_matrix(demo_store)

    async def reopen(pilot) -> None:
        from tui.screens.matrix import MatrixScreen

        pilot.app.push_screen(MatrixScreen(matrix_id=matrix_id))
        await pilot.pause()
        screen = pilot.app.screen
        await until(pilot, lambda: screen.table is not None)  # its results, from a worker
        await until(pilot, lambda: _columns_sized(screen))

    assert snap_compare(make_app(demo_store), run_before=reopen, terminal_size=NARROW)


def test_narrow_help(snap_compare, demo_store: Store) -> None:
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), press=["r", "f1"],
                        terminal_size=NARROW)


def test_narrow_matrix_setup(snap_compare, demo_store: Store) -> None:
    """At 80×24 the whole setup fits on one screen: variants, scorers, target, plan, start."""
    assert snap_compare(make_app(demo_store, DEBATE_SESSION), run_before=fill_matrix_setup,
                        terminal_size=NARROW)

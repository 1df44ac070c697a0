"""Keys, layouts and messages found by using the app the way a newcomer does."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.store import Store
from tests.pilot import replay_form_open, replays_listed
from tests.servers import FakeProvider
from tests.test_app import SIZE, debate_requests
from tests.test_app_replay import config_for, wait_for
from tui.app import RepriseApp
from tui.config import Config
from tui.screens.diff import DiffScreen
from tui.widgets.diff_view import DiffView
from tui.widgets.session_list import SessionList


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "usability.db")
    opened.upsert_requests(debate_requests())
    yield opened
    opened.close()


async def replay_once(pilot, screen) -> None:
    await replay_form_open(pilot)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: screen.replay_worker is not None
                   and screen.replay_worker.is_finished)
    await pilot.pause()


async def test_side_by_side_key_toggles_every_view_and_the_stats(store: Store) -> None:
    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await replay_once(pilot, app.screen)
            await pilot.press("d")
            await pilot.pause()
            diff = app.screen
            assert isinstance(diff, DiffScreen)
            text = diff.query_one("#diff-text", DiffView)
            await pilot.press("tab")
            assert app.focused is text  # the view has its own `s` binding
            await pilot.press("s")
            await pilot.pause()
            assert diff.side_by_side
            assert all(view.side_by_side for view in diff.query(DiffView))
            assert "side by side" in str(diff.query_one("#diff-stats").render())
            await pilot.press("n", "s")
            await pilot.pause()
            assert not diff.side_by_side and not text.side_by_side
            assert "inline" in str(diff.query_one("#diff-stats").render())


async def test_enter_starts_the_replay_and_arrows_choose_the_mode(store: Store) -> None:
    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            for keys, mode in ((["enter"], "chained"), (["down", "enter"], "isolated")):
                await pilot.press("r")
                await pilot.pause()
                assert app.focused is not None and app.focused.id == "mode"
                await pilot.press(*keys)
                await pilot.pause()
                assert app.screen is screen, "Enter did not start the replay"
                await wait_for(pilot, lambda: screen.replay_worker is not None
                               and screen.replay_worker.is_finished)
                await pilot.pause()
                assert store.list_replays("s-debate")[0].mode == mode


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_forms_fit_small_terminals(store: Store, size: tuple[int, int]) -> None:
    app = RepriseApp(store, Config(), start_session="s-debate")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen_region = app.screen.region
        for key in ("r", "m", "R", "M"):
            await pilot.press(key)
            await pilot.pause()
            form = app.screen.query_one(".form")
            assert screen_region.contains_region(form.region), (key, form.region)
            await pilot.press("escape")
            await pilot.pause()


@pytest.mark.parametrize("width", [120, 80, 60])
async def test_sessions_table_keeps_names_readable_when_narrow(
    store: Store, width: int
) -> None:
    store.upsert_requests(debate_requests("s-long", "Research Agent tools"))
    app = RepriseApp(store, Config())
    async with app.run_test(size=(width, 20)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(SessionList)
        header = table.render_line(0).text
        rows = [table.render_line(y).text for y in (1, 2)]
        assert len(header) == table.size.width
        assert any("Research Agent tools" in row for row in rows)
        for title in ("Name", "Started", "Requests", "Cost"):
            assert title in header
        assert ("Id" in header.split()) == (width >= 100)
        # A click on a header sorts by the column drawn there.
        await pilot.click(SessionList, offset=(header.index("Requests") + 2, 0))
        await pilot.pause()
        assert table.sort == "requests"


async def test_help_shows_no_empty_code_for_bindings_without_id(store: Store) -> None:
    from tui.screens.help import HelpScreen

    app = RepriseApp(store, Config(), start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert "``" not in help_screen.text
        assert "`session.replay`" in help_screen.text


@pytest.mark.parametrize("width", [120, 80, 60])
async def test_replay_progress_line_is_never_cut(store: Store, width: int) -> None:
    from textual.widgets import Static

    from tui.widgets.replay_status import ReplayStatus

    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=(width, 24)) as pilot:
            await pilot.pause()
            await replay_once(pilot, app.screen)
            status = app.screen.query_one(ReplayStatus)
            status.set_state("s-debate-r0", "failed")  # one more count: a longer line
            await pilot.pause()
            for name in ("#replay-label", "#replay-counts"):
                widget = status.query_one(name, Static)
                full = " ".join(str(widget.render()).split())
                shown = " ".join(
                    " ".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))
                    .split()
                )
                assert shown == full, (name, shown, full)
            assert app.screen.region.contains_region(status.region)


async def test_progress_counts_add_up_to_the_total(store: Store) -> None:
    """Rounds an agent never reached are counted too: `4/4 2 done · 1 skipped · 1 not
    reached`, never `4/4 2 done · 1 skipped`."""
    from textual.widgets import Static

    from tui.widgets.replay_status import ReplayStatus

    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=(120, 24)) as pilot:
            await pilot.pause()
            await replay_once(pilot, app.screen)
            status = app.screen.query_one(ReplayStatus)
            status.set_state("s-debate-r0", "not_reached")
            status.set_state("s-debate-r1", "needs_tool_result")
            await pilot.pause()
            counts = str(status.query_one("#replay-counts", Static).render())
            assert "1 not reached" in counts and "1 needs tool result" in counts


async def test_cancelled_replay_resumes_from_the_replays_list(store: Store) -> None:
    from tui.widgets.request_tree import RequestTree

    with FakeProvider(latency=0.3) as server:
        config = config_for(server)
        config.replay.concurrency = 1  # one request at a time: cancel lands mid-way
        app = RepriseApp(store, config, start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await replay_form_open(pilot)
            await pilot.press("ctrl+s")
            tree = screen.query_one(RequestTree)
            await wait_for(pilot, lambda: "done" in tree.states.values())
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.replay_worker.is_finished)
            await pilot.pause()
            replay = store.list_replays("s-debate")[0]
            assert replay.status == "cancelled"
            kept = {rid for rid, r in store.replay_results(replay.id).items()
                    if r.status == "done"}
            assert kept and len(kept) < 5
            sent_before = len(server.received)

            await pilot.press("R")
            await replays_listed(pilot)
            await pilot.press("r")
            await pilot.pause()
            assert app.screen is screen
            await wait_for(pilot, lambda: screen.replay_worker.is_finished)
            await pilot.pause()
            resumed = store.get_replay(replay.id)
            assert resumed is not None and resumed.status == "done"
            assert len(store.list_replays("s-debate")) == 1  # the same replay, finished
            assert len(store.replay_results(replay.id)) == 5
            assert len(server.received) - sent_before <= 5 - len(kept)
            assert "5/5" in str(screen.query_one("#replay-counts").render())

            await pilot.press("R")
            await replays_listed(pilot)
            await pilot.press("r")  # a finished replay has nothing to resume
            await pilot.pause()
            assert app.screen is not screen
            await pilot.press("escape")


async def test_status_line_names_the_running_replay(store: Store) -> None:
    with FakeProvider(latency=1.5) as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await replay_once(pilot, screen)
            first = store.list_replays("s-debate")[0].id
            await replay_form_open(pilot)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: len(store.list_replays("s-debate")) == 2
                           and screen.replay is not None and screen.replay.id != first)
            await pilot.pause()
            line = str(screen.query_one("#session-status").render())
            assert screen.replay.id[:8] in line and "running" in line, line
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.replay_worker.is_finished)

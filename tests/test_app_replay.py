"""Replay, diff and cancel flows against a loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from core.store import Store
from tests.pilot import replay_form_open, replays_listed
from tests.servers import FakeProvider
from tests.test_app import SIZE, debate_requests
from tui.app import RepriseApp
from tui.config import Config, ReplayDefaults
from tui.screens.diff import DiffScreen
from tui.screens.session import SessionScreen
from tui.widgets.diff_view import DiffView
from tui.widgets.replay_status import ReplayStatus
from tui.widgets.request_tree import RequestTree


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "replay.db")
    opened.upsert_requests(debate_requests())
    yield opened
    opened.close()


def config_for(server: FakeProvider) -> Config:
    return Config(replay=ReplayDefaults(target="base_url", base_url=server.base_url + "/v1"))


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await pilot.pause(0.05)


async def settle(pilot) -> None:
    """Let the screen's workers finish and their messages be handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_edit_replay_and_diff(store: Store) -> None:
    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, SessionScreen)
            await pilot.press("e", *" Answer in French.", "ctrl+s")
            await pilot.pause()
            await pilot.press("r")
            await pilot.pause()
            note = str(app.screen.query_one("#target-note").render())
            assert server.base_url in note
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.replay_worker is not None
                           and screen.replay_worker.is_finished)
            await pilot.pause()
            tree = screen.query_one(RequestTree)
            assert set(tree.states) == {f"s-debate-r{i}" for i in range(5)}
            assert set(tree.states.values()) <= {"done", "diverged"}
            assert screen.replay is not None and screen.replay.status == "done"
            # The engine ran in a process of its own (core.replay.child), not the app's.
            assert screen.replay.owner_pid not in (None, os.getpid())
            assert "5/5" in str(screen.query_one("#replay-counts").render())
            label = str(screen.query_one("#replay-label").render())
            assert "replay done: 5 done, 0 failed" in label and "tok/s" in label
            sent = [b for b in server.bodies() if isinstance(b, dict)]
            systems = [m["content"] for b in sent for m in b["messages"] if m["role"] == "system"]
            assert systems.count("You judge arguments. Answer in French.") == 2

            await pilot.press("d")
            await settle(pilot)
            diff = app.screen
            assert isinstance(diff, DiffScreen)
            assert diff.current == "s-debate-r0"
            view = diff.query_one("#diff-text", DiffView)
            assert view.result.changed
            await pilot.press("s")
            await pilot.pause()
            assert view.side_by_side
            await pilot.press("n")
            await settle(pilot)
            assert diff.current == "s-debate-r1" and diff.shown.request_id == "s-debate-r1"
            await pilot.press("p")
            await settle(pilot)
            assert diff.current == "s-debate-r0"
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen


async def test_cancel_replay_with_escape(store: Store) -> None:
    with FakeProvider(latency=1.0) as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await replay_form_open(pilot)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: "running" in screen.query_one(RequestTree).states.values())
            assert screen.query_one(ReplayStatus).display
            # The footer says what Esc does now: cancel, not back.
            shown = {b.binding.action for b in app.active_bindings.values()
                     if b.enabled and b.binding.show}
            assert "cancel_replay" in shown and "back" not in shown
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.replay_worker.is_finished)
            await pilot.pause()
            assert app.screen is screen  # escape cancelled the replay, not the screen
            replay = store.list_replays("s-debate")[0]
            assert replay.status == "cancelled"
            assert "cancelled" in str(screen.query_one("#replay-label").render())
            shown = {b.binding.action for b in app.active_bindings.values()
                     if b.enabled and b.binding.show}
            assert "back" in shown and "cancel_replay" not in shown
            # Resumed, it no longer reads "cancelled".
            screen._start_resumed(replay.id, replay.spec.target())
            assert "· running" in str(screen.query_one("#session-status").render())
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.replay_worker.is_finished)


async def test_replays_list_reopens_and_compares(store: Store) -> None:
    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            for _ in range(2):
                await replay_form_open(pilot)
                await pilot.press("ctrl+s")
                await pilot.pause()
                await wait_for(pilot, lambda: screen.replay_worker.is_finished)
                await pilot.pause()
            replays = store.list_replays("s-debate")
            assert len(replays) == 2
            await pilot.press("R")
            await replays_listed(pilot)
            await pilot.press("c", "down", "enter")
            await settle(pilot)
            diff = app.screen
            assert isinstance(diff, DiffScreen)
            assert diff.base_id == replays[0].id and diff.replay_id == replays[1].id
            assert diff.comparison is not None and len(diff.comparison.order) == 5
            assert diff.shown is not None


async def test_detail_shows_the_replayed_response(store: Store) -> None:
    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await replay_form_open(pilot)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.replay_worker is not None
                           and screen.replay_worker.is_finished)
            await pilot.pause()
            await pilot.press("j", "k")
            await pilot.pause()
            from tui.widgets.request_detail import MessageBlock

            blocks = screen.query(MessageBlock).filter(".replayed")
            assert len(blocks) == 1
            block = blocks.first()
            result = screen.results[screen.query_one(RequestTree).current_request.id]
            assert block.text == result.output_text
            assert block.text.startswith("reply(")
            assert "similarity" in str(block.border_title)


async def test_a_replay_without_the_provider_key_is_refused_by_name(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = Config(replay=ReplayDefaults(target="original"))
    app = RepriseApp(store, config, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await replay_form_open(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.replay_worker is not None
                       and screen.replay_worker.is_finished)
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("$OPENAI_API_KEY is not set (needed by api.openai.com)" in m
                   for m in messages), messages
        assert store.list_replays() == []

"""The app resumes a replay to a stored target only after the person confirms it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.replay.models import ReplaySpec
from core.store import Store
from tests.pilot import replays_listed
from tests.servers import FakeProvider
from tests.test_app import SIZE, debate_requests
from tests.test_app_replay import wait_for
from tui.app import RepriseApp
from tui.config import Config
from tui.screens.confirm import ConfirmScreen

KEY = "stored-target-key-5Tq8Wm3Zp"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "resume.db")
    opened.upsert_requests(debate_requests())
    yield opened
    opened.close()


async def test_resume_to_a_stored_target_asks_first(store: Store, monkeypatch) -> None:
    monkeypatch.setenv("STORED_KEY", KEY)
    with FakeProvider() as stored_server:
        replay = store.create_replay(ReplaySpec(
            session_id="s-debate", via=stored_server.base_url, api_key_env="STORED_KEY"))
        store.finish_replay(replay.id, "cancelled")
        app = RepriseApp(store, Config(), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("R")
            await replays_listed(pilot)
            await pilot.press("r")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            assert stored_server.base_url in str(app.screen.query_one("#confirm-message")
                                                 .render())
            await pilot.press("n")  # declined: nothing is sent
            await pilot.pause()
            assert app.screen is screen and stored_server.received == []
            assert store.get_replay(replay.id).status == "cancelled"

            await pilot.press("R")
            await replays_listed(pilot)
            await pilot.press("r")
            await pilot.pause()
            await pilot.press("y")  # confirmed: the person named it
            await wait_for(pilot, lambda: screen.replay_worker is not None
                           and screen.replay_worker.is_finished)
            await pilot.pause()
            assert stored_server.received
            assert all(r.headers["authorization"] == f"Bearer {KEY}"
                       for r in stored_server.received)
            assert store.get_replay(replay.id).status == "done"


async def test_matrix_resume_to_a_stored_target_asks_first(store: Store, monkeypatch) -> None:
    from core.matrix import MatrixSpec, _set_status, create_matrix, get_matrix
    from tui.screens.matrix import MatrixScreen

    monkeypatch.setenv("STORED_KEY", KEY)
    with FakeProvider() as stored_server:
        matrix = create_matrix(store, MatrixSpec(
            session_ids=["s-debate"], via=stored_server.base_url, api_key_env="STORED_KEY"))
        _set_status(store, matrix.id, "interrupted")
        app = RepriseApp(store, Config())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.push_screen(MatrixScreen(matrix_id=matrix.id))
            await pilot.pause()
            screen = app.screen
            await pilot.press("r")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await pilot.pause()
            assert app.screen is screen and stored_server.received == []
            assert get_matrix(store, matrix.id).status == "interrupted"

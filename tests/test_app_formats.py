"""In the app: a request logged without a session, and a Responses API session, open, edit,
replay (to a loopback OpenAI-compatible server) and diff like any session."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.sources.files import import_files
from core.store import Store
from tests.pilot import replay_form_open
from tests.servers import FakeProvider
from tests.test_app import SIZE
from tests.test_app_replay import config_for, wait_for
from tui.app import RepriseApp
from tui.screens.diff import DiffScreen
from tui.screens.session import SessionScreen
from tui.widgets.request_detail import RequestDetail

PROVIDERS = Path(__file__).resolve().parent / "fixtures" / "providers"
LONE = "e1f2a3b4-0000-4c5d-9e8f-000000000001"
TRIP = "3f6b2a10-7c1d-4e8f-9a2b-5d4c3b2a1f01"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "formats.db")
    assert not import_files(opened, sorted(PROVIDERS.glob("*.json"))).errors
    yield opened
    opened.close()


async def test_a_request_without_a_session_edits_replays_and_diffs(store: Store) -> None:
    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session=LONE)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, SessionScreen)
            detail = screen.query_one(RequestDetail)
            assert "positive" in detail.response_text
            await pilot.press("e", *" Answer in one word.", "ctrl+s")
            await pilot.pause()
            await replay_form_open(pilot)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.replay_worker is not None
                           and screen.replay_worker.is_finished)
            await pilot.pause()
            assert screen.replay is not None and screen.replay.status == "done"
            (body,) = server.bodies()
            assert body["messages"][0]["content"].endswith("Answer in one word.")
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, DiffScreen) and app.screen.current == LONE


async def test_responses_session_edits_its_instructions_and_replays_translated(
    store: Store,
) -> None:
    with FakeProvider() as server:
        app = RepriseApp(store, config_for(server), start_session=TRIP)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, SessionScreen)
            await pilot.press("e", *" Reply in Portuguese.", "ctrl+s")
            await pilot.pause()
            await replay_form_open(pilot)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.replay_worker is not None
                           and screen.replay_worker.is_finished)
            await pilot.pause()
            statuses = {r.status for r in screen.results.values()}
            # The fake model asks for no tools, so later agent turns are not reached.
            assert statuses <= {"done", "diverged", "skipped", "not_reached"}, statuses
            systems = [m["content"] for b in server.bodies() for m in b["messages"]
                       if m["role"] == "system"]
            assert systems and all(s.endswith("Reply in Portuguese.") for s in systems)

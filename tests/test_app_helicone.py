"""The Helicone source of the sessions screen, against the loopback fake Helicone."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.store import Store
from tests.helicone_server import TEST_KEY, FakeHelicone
from tests.test_app import SIZE
from tests.test_app_replay import wait_for
from tui.app import RepriseApp
from tui.config import Config, HeliconeDefaults
from tui.screens.session import SessionScreen
from tui.widgets.session_list import SessionList


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "helicone.db")
    yield opened
    opened.close()


def notes(app: RepriseApp) -> str:
    return "\n".join(n.message for n in app._notifications)


async def test_without_a_key_the_source_stays_local(store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELICONE_API_KEY", raising=False)
    app = RepriseApp(store, Config())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+o")  # the empty store focuses the filter box
        await pilot.pause()
        assert app.screen.source == "local"
        assert "HELICONE_API_KEY is not set" in notes(app)


async def test_pages_lazily_and_pulls_on_open(store: Store,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELICONE_API_KEY", TEST_KEY)
    with FakeHelicone() as fake:
        for index in range(250):
            fake.add_session(f"sess-{index:03d}", 1 if index else 3, name=f"Run {index:03d}")
        config = Config(helicone=HeliconeDefaults(base_url=fake.url))
        app = RepriseApp(store, config)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: len(screen.remote) >= 200)
            await pilot.pause(0.2)
            table = screen.query_one(SessionList)
            assert screen.source == "helicone" and not screen.remote_done
            assert len(screen.remote) == 200  # two pages: only what the table needed
            assert len(fake.calls("/v1/session/query")) == 2
            assert "Helicone" in str(screen.query_one("#sessions-status").render())
            await pilot.press("G")
            await wait_for(pilot, lambda: screen.remote_done)
            await pilot.pause()
            assert len(screen.remote) == 250 and table.total == 250
            assert store.count_sessions("") == 0  # listing pulls nothing

            await pilot.press("g")
            table.set_sort("name", descending=False)
            await pilot.pause()
            assert table.selected.id == "sess-000"
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionScreen))
            await pilot.pause()
            assert app.screen.session_id == "sess-000"
            assert len(app.screen.requests) == 3
            assert store.get_session("sess-000").requests == 3
            assert "pulling Run 000" in notes(app)
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("ctrl+o")
            await pilot.pause()
            assert screen.source == "local" and table.total == 1


async def test_a_rejected_key_is_a_notification(store: Store,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELICONE_API_KEY", "sk-helicone-wrong-0001")
    with FakeHelicone() as fake:
        config = Config(helicone=HeliconeDefaults(base_url=fake.url))
        app = RepriseApp(store, config)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("ctrl+o")
            await wait_for(pilot, lambda: screen.remote_done)
            await pilot.pause()
            assert "Helicone" in notes(app)
            assert "failed" in str(screen.query_one("#sessions-status").render())

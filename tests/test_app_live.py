"""An open app sees sessions recorded by `reprise record` (another connection) arrive live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

pytest.importorskip("uvicorn")

from core.servers.base import ServerThread  # noqa: E402
from core.servers.recorder import Recorder, RecordSettings  # noqa: E402
from core.store import Store  # noqa: E402
from tests.servers import FakeProvider  # noqa: E402
from tui.app import RepriseApp  # noqa: E402
from tui.screens.session import SessionScreen  # noqa: E402
from tui.widgets.request_tree import RequestTree  # noqa: E402
from tui.widgets.session_list import SessionList  # noqa: E402


async def wait_for(pilot, predicate, what: str = "", timeout: float = 30.0) -> None:
    """Wait (bounded) for the app to catch up; busy machines make this take a while."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def chat(url: str, text: str) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be kind."},
                                                 {"role": "user", "content": text}]}
    response = httpx.post(url + "/v1/chat/completions", json=body, timeout=10)
    assert response.status_code == 200


async def test_recorded_requests_appear_in_the_open_app(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    with FakeProvider() as provider:
        recorder = Recorder(RecordSettings(db=str(db), session_name="live run",
                                           upstreams={"openai": provider.base_url}))
        with ServerThread(recorder.app()) as server, Store(db) as store:
            app = RepriseApp(store)
            async with app.run_test(size=(120, 36)) as pilot:
                table = app.screen.query_one(SessionList)
                await pilot.pause()
                assert table.total == 0
                await asyncio.to_thread(chat, server.url, "first")
                await wait_for(pilot, lambda: table.total == 1, "the recorded session")
                assert table.selected.name == "live run"
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, SessionScreen)
                               and bool(app.screen.query(RequestTree)), "the session screen")
                tree = app.screen.query_one(RequestTree)
                await wait_for(pilot, lambda: len(tree.request_order()) == 1, "its request")
                await asyncio.to_thread(chat, server.url, "second")
                await wait_for(pilot, lambda: len(tree.request_order()) == 2, "the new request")
                assert tree.current_request is not None


async def test_editor_scope_every_request(tmp_path: Path) -> None:
    from tests.test_app import debate_requests
    from tui.widgets.system_editor import SystemEditor

    with Store(tmp_path / "app.db") as store:
        store.upsert_requests(debate_requests())
        app = RepriseApp(store, start_session="s-debate")
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, SessionScreen)
                           and bool(app.screen.query(RequestTree)), "the session screen")
            screen = app.screen
            tree = screen.query_one(RequestTree)
            await wait_for(pilot, lambda: tree.current_request is not None)
            await pilot.press("e")
            await wait_for(pilot, lambda: bool(screen.query(SystemEditor)))
            editor = screen.query_one(SystemEditor)
            await pilot.press("ctrl+t", "ctrl+t")  # prompt id → this request → every request
            assert editor.scope == "all"
            assert "every request in the session (*, 5)" in str(
                editor.query_one("#editor-scope").render())
            await pilot.press(*" Be strict.", "ctrl+s")
            await wait_for(pilot, lambda: not screen.query(SystemEditor))
            [edit] = screen.edits.system
            assert (edit.scope, edit.target) == ("prompt", "*")
            assert tree.edited == {f"s-debate-r{i}" for i in range(5)}

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
from tests.test_app_replay import wait_for  # noqa: E402
from tui.app import RepriseApp  # noqa: E402
from tui.screens.session import SessionScreen  # noqa: E402
from tui.widgets.request_tree import RequestTree  # noqa: E402
from tui.widgets.session_list import SessionList  # noqa: E402


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
                await wait_for(pilot, lambda: table.total == 1)
                assert table.selected.name == "live run"
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, SessionScreen))
                tree = app.screen.query_one(RequestTree)
                assert len(tree.request_order()) == 1
                await asyncio.to_thread(chat, server.url, "second")
                await wait_for(pilot, lambda: len(tree.request_order()) == 2)
                assert tree.current_request is not None

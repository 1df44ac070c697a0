"""Exporting a replay report from the diff screen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.demo import demo_store_copy
from core.demo_replay import DEBATE_SESSION, seed_demo_replay
from core.store import Store
from tests.test_app import SIZE
from tests.test_app_replay import wait_for
from tui.app import RepriseApp
from tui.config import Config
from tui.screens.diff import DiffScreen


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.chdir(tmp_path)
    store = Store(demo_store_copy(tmp_path))
    seed_demo_replay(store)
    yield store
    store.close()


async def test_export_html_key_and_palette_formats(demo: Store, tmp_path: Path) -> None:
    app = RepriseApp(demo, Config(), start_session=DEBATE_SESSION)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        diff = app.screen
        assert isinstance(diff, DiffScreen)
        await pilot.press("x")
        html = tmp_path / "reprise-5eed0000.html"
        await wait_for(pilot, html.exists)
        await pilot.pause()
        text = html.read_text(encoding="utf-8")
        assert text.lstrip().lower().startswith("<!doctype html")
        assert "argument-evaluation" in text
        assert any("reprise-5eed0000.html" in n.message for n in app._notifications)

        commands = {c.title: c for c in diff.palette_commands()}
        commands["Export report (Markdown)"].callback()
        commands["Export report (JSON)"].callback()
        md, js = tmp_path / "reprise-5eed0000.md", tmp_path / "reprise-5eed0000.json"
        await wait_for(pilot, lambda: md.exists() and js.exists())
        await pilot.pause()
        assert md.read_text(encoding="utf-8").startswith("#")
        assert json.loads(js.read_text(encoding="utf-8"))["replay_id"] == "5eed0000-demo"

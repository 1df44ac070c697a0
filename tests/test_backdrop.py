"""A modal draws the dimmed screen behind it once, not on every repaint (tui/screens/backdrop)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.renderables.background_screen import BackgroundScreen

from core.store import Store
from tests.pilot import replay_form_open
from tests.test_app import SIZE, debate_requests
from tui.app import RepriseApp
from tui.config import Config


async def test_the_backdrop_is_drawn_once_while_the_form_is_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[int] = []
    original = BackgroundScreen.__rich_console__

    def counting(self, console, options):  # type: ignore[no-untyped-def]
        drawn.append(1)
        return original(self, console, options)

    monkeypatch.setattr(BackgroundScreen, "__rich_console__", counting)
    with Store(tmp_path / "s.db") as store:
        store.upsert_requests(debate_requests())
        app = RepriseApp(store, Config(), start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await replay_form_open(pilot)
            form = app.screen
            assert drawn, "the backdrop was never drawn"
            first = len(drawn)
            for _ in range(3):  # focus moves: the form and its footer repaint
                await pilot.press("tab")
                await pilot.pause()
            form.refresh()  # the whole screen, backdrop included
            await pilot.pause()
            assert len(drawn) == first
            # What shows behind the form is still the session, dimmed.
            text = "\n".join(line.text for line in form.render_lines(form.region))
            assert "Debate" in text or "debate" in text


"""The replay status says the engine is starting until its first event arrives."""

from __future__ import annotations

from textual.app import App, ComposeResult

from core.replay.models import ReplayEvent
from tui.widgets.replay_status import STARTING, ReplayStatus


class _StatusApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ReplayStatus()


def _counts(app: App[None]) -> str:
    return str(app.query_one("#replay-counts").render())


async def test_starting_shows_until_the_first_event_and_after_a_silent_second() -> None:
    app = _StatusApp()
    async with app.run_test(size=(100, 10)) as pilot:
        status = app.query_one(ReplayStatus)
        status.start(3, "replay → somewhere")
        await pilot.pause(1.2)  # the once-a-second refresh keeps it
        assert STARTING in _counts(app)
        status.feed_many([ReplayEvent(kind="queued", replay_id="x", request_id="a")])
        status.set_states({"a": "queued"})
        await pilot.pause()
        assert STARTING not in _counts(app)


async def test_a_run_refused_before_any_event_does_not_say_starting() -> None:
    app = _StatusApp()
    async with app.run_test(size=(100, 10)) as pilot:
        status = app.query_one(ReplayStatus)
        status.start(3, "replay → somewhere")
        status.finish("replay failed")
        await pilot.pause()
        assert STARTING not in _counts(app)
        assert "replay failed" in str(app.query_one("#replay-label").render())

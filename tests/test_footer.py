"""The footer relabels the keys it shows when only what they say changed (tui/widgets/footer)."""

from __future__ import annotations

from pathlib import Path

from core.store import Store
from tests.pilot import replay_form_open
from tests.test_app import SIZE, debate_requests
from tui.app import RepriseApp
from tui.config import Config


async def test_the_footer_relabels_its_keys_when_a_replay_starts_and_ends(
        tmp_path: Path) -> None:
    """Escape turns from Back into Cancel replay and back, in the key widgets already shown."""
    from textual.widgets._footer import FooterKey
    from textual.worker import WorkerState

    from tests.servers import FakeProvider
    from tui.config import ReplayDefaults
    from tui.screens.session import SessionScreen

    def keys(screen) -> list[FooterKey]:  # type: ignore[no-untyped-def]
        return [k for k in screen.query(FooterKey) if not k.has_class("-command-palette")]

    with Store(tmp_path / "s.db") as store, FakeProvider(latency=0.3) as server:
        store.upsert_requests(debate_requests())
        config = Config(replay=ReplayDefaults(target="base_url",
                                              base_url=server.base_url + "/v1", concurrency=1))
        app = RepriseApp(store, config, start_session="s-debate")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, SessionScreen)
            before = keys(screen)
            assert "Back" in [k.description for k in before]
            await replay_form_open(pilot)
            await pilot.press("ctrl+s")
            while app.screen is not screen:
                await pilot.pause(0.02)
            for _ in range(100):
                await pilot.pause(0.02)
                if "Cancel replay" in [k.description for k in keys(screen)]:
                    break
            during = keys(screen)
            assert "Cancel replay" in [k.description for k in during]
            assert during == before  # the same widgets, relabelled
            cancel = next(k for k in during if k.description == "Cancel replay")
            assert cancel.action == "cancel_replay"
            await pilot.click(cancel)  # the relabelled key does what it now says
            worker = screen.replay_worker
            assert worker is not None
            for _ in range(300):
                await pilot.pause(0.02)
                if worker.is_finished:
                    break
            await pilot.pause(0.1)
            assert worker.state == WorkerState.CANCELLED
            assert "Back" in [k.description for k in keys(screen)]

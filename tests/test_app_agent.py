"""The app on an agent session: tool rules in the replay form, stop → type the result,
added rounds in the tree and the diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.store import Store
from tests.agent_fake import agent_reply, agent_session
from tests.servers import FakeProvider
from tests.test_app import SIZE
from tests.test_app_replay import config_for, wait_for
from tui.app import RepriseApp
from tui.screens.diff import DiffScreen
from tui.screens.replay_form import ReplayForm
from tui.screens.session import SessionScreen
from tui.screens.tool_result import ToolResultScreen
from tui.widgets.request_tree import RequestTree

RECORDED = "You research. STEPS: search(alpha); fetch(doc1)"
EDITED = "You research. STEPS: search(alpha); lookup(moon); fetch(doc1); search(more)"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "agent.db")
    requests = agent_session(RECORDED, session_id="s-agent")
    for request in requests:
        request.request_body = _edited(request.request_body)
    opened.upsert_requests(requests)
    yield opened
    opened.close()


def _edited(body: dict) -> dict:
    """The recorded session, but its prompt already asks for the edited steps (the replay
    then makes calls the recording never saw, without typing an edit in the test)."""
    messages = [dict(m) for m in body["messages"]]
    if messages[0]["role"] == "system" and "STEPS" in messages[0]["content"]:
        messages[0]["content"] = EDITED
    return {**body, "messages": messages}


async def test_stop_rule_asks_for_the_result_and_continues(store: Store) -> None:
    with FakeProvider(reply=agent_reply) as server:
        app = RepriseApp(store, config_for(server), start_session="s-agent")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, SessionScreen)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ReplayForm))
            form = app.screen
            rules = form.query_one("#tool-rules").text
            assert rules.splitlines() == ["fetch =", "lookup =", "search ="]
            form.query_one("#tool-rules").text = "lookup = stop\nsearch = stub:none\nserch = stop"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, ToolResultScreen))
            asked = app.screen
            assert any("never offered a tool named 'serch'" in n.message
                       for n in app._notifications)
            assert [c.name for c in asked.calls] == ["lookup"]
            asked.query_one("#tool-result-0").text = "the moon has no capital"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.replay is not None
                           and screen.replay.status == "done"
                           and not screen.replay_worker.is_running)
            await pilot.pause()
            results = store.replay_results(screen.replay.id)
            assert results["r3"].tool_results[0].source == "user"
            assert results["r3+2"].output_text == (
                "Answer: results for alpha | the moon has no capital | page doc1 | none")
            tree = screen.query_one(RequestTree)
            assert set(tree._added) == {"r3+1", "r3+2"}
            assert tree.states["r3"] == "done"
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen)
                           and app.screen.comparison is not None)
            diff = app.screen
            assert diff.comparison.order == ["r1", "r2", "r3", "r3+1", "r3+2", "judge"]
            assert {"r3+1", "r3+2"} <= diff.comparison.changed


@pytest.mark.parametrize("saves", [True, False], ids=["own-store", "demo"])
async def test_tool_rules_are_saved_except_on_the_demo(
    store: Store, tmp_path: Path, saves: bool
) -> None:
    """Rules typed in the form are saved to config.toml, but never from `reprise demo`:
    an `exec:` rule chosen on demo data must not apply to the person's own sessions."""
    config_file = tmp_path / "config.toml"
    with FakeProvider(reply=agent_reply) as server:
        app = RepriseApp(store, config_for(server), start_session="s-agent",
                         config_path=config_file, save_settings=saves)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ReplayForm))
            app.screen.query_one("#tool-rules").text = "lookup = stub:none"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(screen, SessionScreen)
                           and screen.replay is not None
                           and screen.replay.status == "done"
                           and not screen.replay_worker.is_running)
            assert app.config.replay.tools.get("lookup") == "stub:none"  # used in this run
    saved = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    assert ('"lookup" = "stub:none"' in saved) is saves, saved

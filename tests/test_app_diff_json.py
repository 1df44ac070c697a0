"""The diff screen lists changes by JSON path when both answers are JSON (key J)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.formats import ToolCall
from core.replay.models import ReplayResult, ReplaySpec
from core.store import Store
from tests.test_app import SIZE, make_request
from tui.app import RepriseApp
from tui.screens.diff import DiffScreen
from tui.screens.help import HelpScreen
from tui.widgets.diff_view import DiffView

ITEMS = [{"id": i % 3, "score": i, "tags": ["x"]} for i in range(6)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "json.db")
    old = "```json\n" + json.dumps({"items": ITEMS}, indent=2) + "\n```\n"
    opened.upsert_requests([
        make_request("s-json", "Extraction", 0, "/extract", "extract", answer=old),
        make_request("s-json", "Extraction", 1, "/summary", "summary", answer="Plain words."),
    ])
    yield opened
    opened.close()


def _replay(store: Store) -> str:
    new_items = json.loads(json.dumps(ITEMS))
    new_items[3]["score"] = 9
    new_items.append({"id": 0, "score": 6, "tags": []})
    replay = store.create_replay(ReplaySpec(session_id="s-json"))
    store.save_result(replay.id, ReplayResult(
        request_id="s-json-r0", status="done", output_text=json.dumps({"items": new_items}),
        tool_calls=[ToolCall(id="c1", name="lookup", arguments='{"q": "cats", "n": 2}')],
        similarity=0.9))
    store.save_result(replay.id, ReplayResult(
        request_id="s-json-r1", status="done", output_text="Other words.", similarity=0.5))
    store.finish_replay(replay.id, "done")
    return replay.id


async def test_json_paths_toggle(store: Store) -> None:
    replay_id = _replay(store)
    app = RepriseApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        order = ["s-json-r0", "s-json-r1"]
        await app.push_screen(DiffScreen("s-json", replay_id, order, "s-json-r0"))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        text = screen.query_one("#diff-text", DiffView)
        tools = screen.query_one("#diff-tools", DiffView)
        assert '"score"' in text.result.a_text  # the word diff of the JSON text
        assert "diff.structure" in HelpScreen.for_focus(screen).text

        await pilot.press("J")
        await pilot.pause()
        assert text.result.a_text.splitlines() == ["$.items[3].score: 3", "$.items[6]: "]
        assert text.result.b_text.splitlines() == [
            "$.items[3].score: 9",
            '$.items[6]: {"id": 0, "score": 6, "tags": []}',
        ]
        assert tools.result.b_text.startswith("$[0]: ")  # a tool call added, by path
        assert "JSON path" in str(screen.query_one("#diff-stats").render())

        # a request whose answers are not JSON keeps the word diff, and says why
        await pilot.press("n")
        await pilot.pause()
        assert screen.current == "s-json-r1"
        assert text.result.a_text == "Plain words."
        assert "not JSON" in str(screen.query_one("#diff-stats").render())

        await pilot.press("p", "J")
        await pilot.pause()
        assert screen.current == "s-json-r0"
        assert '"score"' in text.result.a_text

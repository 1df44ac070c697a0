"""Keyboard flows of the terminal app, driven by Textual's pilot on real stores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import LoggedRequest
from core.store import Store
from tui.app import RepriseApp
from tui.screens.session import SessionScreen
from tui.screens.sessions import SessionsScreen
from tui.widgets.request_detail import RequestDetail
from tui.widgets.request_tree import RequestTree
from tui.widgets.session_list import SessionList

SIZE = (120, 36)
START = datetime(2025, 3, 14, 17, 0, tzinfo=UTC)


def chat(system: str, user: str, answer: str) -> tuple[dict, dict]:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }
    response = {
        "choices": [{"message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    }
    return body, response


def make_request(session: str, name: str, index: int, path: str, prompt: str | None,
                 system: str = "You are terse.", answer: str = "Fine.") -> LoggedRequest:
    body, response = chat(system, f"question {index}", answer)
    created = START + timedelta(seconds=index * 3)
    return LoggedRequest(
        id=f"{session}-r{index}", created_at=created, response_at=created + timedelta(seconds=1),
        session_id=session, session_name=name, session_path=path, prompt_id=prompt,
        provider="OPENAI", model="gpt-4o-mini", status=200, latency_ms=1000.0,
        prompt_tokens=10, completion_tokens=5, total_tokens=15, cost=0.0001,
        target_url="https://api.openai.com/v1/chat/completions",
        request_body=body, response_body=response,
    )


def debate_requests(session: str = "s-debate", name: str = "Debate") -> list[LoggedRequest]:
    return [
        make_request(session, name, 0, "/debate/turn-1", "judge", "You judge arguments."),
        make_request(session, name, 1, "/debate/turn-1", "arguer", "You argue."),
        make_request(session, name, 2, "/debate/turn-2", "judge", "You judge arguments."),
        make_request(session, name, 3, "/debate/turn-2", "arguer", "You argue."),
        make_request(session, name, 4, "/debate/turn-2/check", None, "Check facts [b]now[/b]."),
    ]


@pytest.fixture
def app_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "app.db")
    store.upsert_requests(debate_requests())
    store.upsert_requests(
        [make_request("s-other", "Support triage", 0, "/triage", "triage")]
    )
    yield store
    store.close()


async def test_empty_store_explains_how_to_import(tmp_path: Path) -> None:
    app = RepriseApp(Store(tmp_path / "empty.db"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        empty = app.screen.query_one("#empty")
        assert empty.display
        assert "reprise import" in str(empty.render())
        assert not app.screen.query_one(SessionList).display


async def test_filter_and_open_session(app_store: Store) -> None:
    app = RepriseApp(app_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one(SessionList)
        assert table.total == 2
        assert table.selected.name == "Support triage"  # newest first
        await pilot.press("slash", *"deb")
        await pilot.pause()
        assert table.total == 1
        assert table.selected.id == "s-debate"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen)
        assert app.screen.session_id == "s-debate"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)


async def test_sort_by_column(app_store: Store) -> None:
    app = RepriseApp(app_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one(SessionList)
        table.set_sort("requests")
        await pilot.pause()
        assert table.selected.id == "s-debate"
        await pilot.press("O")
        await pilot.pause()
        assert table.selected.id == "s-other"
        assert not table.descending


async def settled(pilot) -> None:
    """Workers done and the messages they posted handled (screens mount over a few frames)."""
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_navigate_tree_with_vim_keys(app_store: Store) -> None:
    app = RepriseApp(app_store, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        tree = app.screen.query_one(RequestTree)
        detail = app.screen.query_one(RequestDetail)
        assert tree.current_request.id == "s-debate-r0"
        await pilot.press("j")
        await pilot.pause()
        assert tree.current_request.id == "s-debate-r1"
        assert detail.request.id == "s-debate-r1"
        await pilot.press("G")
        await pilot.pause()
        assert tree.current_request.id == "s-debate-r4"
        await pilot.press("h")  # leaf: go to its folder
        await pilot.pause()
        assert tree.cursor_node.data.path == "/debate/turn-2/check"
        await pilot.press("h")  # folder: collapse
        assert not tree.cursor_node.is_expanded
        await pilot.press("l")
        assert tree.cursor_node.is_expanded
        await pilot.press("g")
        await pilot.pause()
        assert tree.cursor_line == 0


async def test_open_takes_a_short_session_id(app_store: Store) -> None:
    """`reprise open 0402f8ed`: the id prefix the CLI prints opens the session."""
    from tui.screens.session import SessionScreen

    app = RepriseApp(app_store, start_session="s-deb")
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert isinstance(app.screen, SessionScreen) and app.screen.session_id == "s-debate"


async def test_text_from_sessions_is_literal(app_store: Store) -> None:
    app = RepriseApp(app_store, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("G")
        await pilot.pause()
        block = app.screen.query_one(".system-message")
        assert "[b]now[/b]" in block.text


async def test_edit_system_prompt_for_prompt_id(app_store: Store) -> None:
    app = RepriseApp(app_store, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("e")
        await pilot.pause()
        editor = screen.query_one("#system-editor")
        assert editor.scope == "prompt"
        assert "prompt id judge (2)" in str(editor.query_one("#editor-scope").render())
        await pilot.press(*" Be strict.", "ctrl+s")
        await pilot.pause()
        assert not screen.query("#system-editor")
        [edit] = screen.edits.system
        assert (edit.scope, edit.target) == ("prompt", "judge")
        assert edit.text == "You judge arguments. Be strict."
        tree = screen.query_one(RequestTree)
        assert tree.edited == {"s-debate-r0", "s-debate-r2"}
        assert screen.query_one("#edits").display
        # switch scope to this request only, on the arguer request
        await pilot.press("j", "e")
        await pilot.pause()
        await pilot.press("ctrl+t", *" Shorter.", "f2")
        await pilot.pause()
        assert tree.edited == {"s-debate-r0", "s-debate-r1", "s-debate-r2"}
        assert screen.edits.system[-1].scope == "request"
        # escape cancels an edit without changing anything; typed text needs a second press
        await pilot.press("e", "x", "escape")
        await pilot.pause()
        assert screen.query("SystemEditor")
        assert "Escape again discards" in list(app._notifications)[-1].message
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.query("SystemEditor")
        assert len(screen.edits.system) == 2
        # reset from the pending edits panel
        screen.query_one("#edits").focus()
        await pilot.press("X")
        await pilot.pause()
        assert screen.edits.is_empty
        assert tree.edited == set()


async def test_model_and_temperature_override(app_store: Store) -> None:
    app = RepriseApp(app_store, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        await pilot.press(*"gpt-4o", "tab", *"0.7", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SessionScreen)
        [param] = screen.edits.params
        assert (param.scope, param.target, param.model, param.temperature) == (
            "prompt", "judge", "gpt-4o", 0.7
        )


async def test_help_shows_focused_widget_help(app_store: Store) -> None:
    app = RepriseApp(app_store, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        assert "Request tree" in app.screen.text
        assert "session.replay" in app.screen.text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen)


async def test_keymap_from_config(app_store: Store) -> None:
    from tui.config import Config

    app = RepriseApp(app_store, Config(keymap={"session.edit": "i"}), start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        assert app.screen.query("#system-editor")


async def test_store_opens_after_first_paint(app_store: Store, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The first frame is composed before the store opens, and it already lists sessions
    (read through the peek): startup never waits for pydantic or the integrity check."""
    import threading

    import core.store

    config = tmp_path / "config.toml"
    config.write_text('theme = "nord"\n[keymap]\n"sessions.filter" = "f"\n')
    gate = threading.Event()
    events: list[str] = []
    listed_at_first_frame: list[int] = []

    class GatedStore(core.store.Store):
        def __init__(self, path: Path) -> None:
            assert gate.wait(10), "the store opened before the test let it"
            events.append("store opened")
            super().__init__(path)

    monkeypatch.setattr(core.store, "Store", GatedStore)
    app = RepriseApp(app_store.path, config_path=config)
    display = app._display

    def watched(screen, renderable) -> None:  # type: ignore[no-untyped-def]
        """Every frame the app composes passes here (headless or not)."""
        if renderable is not None and "first frame" not in events:
            events.append("first frame")
            tables = screen.query(SessionList)
            listed_at_first_frame.append(tables.first().total if tables else -1)
        display(screen, renderable)

    app._display = watched  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert events == ["first frame"] and app.store is None
        assert listed_at_first_frame == [2]  # the rows were in that frame
        assert app.theme == "nord"
        assert "2 sessions" in str(app.screen.query_one("#sessions-status").render())
        gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert events == ["first frame", "store opened"] and app.store is not None
        assert app.peek is None  # closed once the store answers
        table = app.screen.query_one(SessionList)
        assert table.total == 2
        await pilot.press("f", *"triage")
        await pilot.pause()
        assert table.total == 1


async def test_a_session_keeps_its_objects_out_of_full_collections_while_open(
        app_store: Store) -> None:
    import gc

    app = RepriseApp(app_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"deb", "enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen)
        assert gc.get_freeze_count() > 0  # the opened session is skipped by full collections
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)
        assert gc.get_freeze_count() == 0  # closed: its cycles can be collected again


async def test_pending_edits_survive_leaving_the_session(app_store: Store) -> None:
    app = RepriseApp(app_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"deb", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SessionScreen)
        await pilot.press("e", *" Be strict.", "ctrl+s")
        await pilot.pause()
        assert len(screen.edits.system) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("slash", *"deb", "enter")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, SessionScreen) and again is not screen
        assert [e.text for e in again.edits.system] == ["You judge arguments. Be strict."]
        assert again.query_one(RequestTree).edited == {"s-debate-r0", "s-debate-r2"}


async def test_editing_on_a_folder_says_what_to_do(app_store: Store) -> None:
    app = RepriseApp(app_store, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        await pilot.press("g")  # the root folder
        await pilot.pause()
        assert screen.query_one(RequestTree).current_request is None
        await pilot.press("e")
        await pilot.pause()
        assert not screen.query("#system-editor")
        await pilot.press("m")
        await pilot.pause()
        assert app.screen is screen
        messages = [n.message for n in app._notifications]
        assert any("not a folder" in m and "system prompt" in m for m in messages)
        assert any("not a folder" in m and "model" in m for m in messages)


async def test_quit_with_pending_edits_asks_for_a_second_press(app_store: Store) -> None:
    app = RepriseApp(app_store, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")  # nothing to lose: quits at once
        await pilot.pause()
        assert not app.is_running
    app = RepriseApp(app_store, start_session="s-debate")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e", *" Be strict.", "ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.is_running
        assert any("pending edits would be lost" in n.message for n in app._notifications)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not app.is_running


async def test_palette_offers_help_once(app_store: Store) -> None:
    app = RepriseApp(app_store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Help" in titles and "Keys" not in titles and "Theme" in titles


async def test_a_large_session_opens_in_a_worker_and_fills_in(tmp_path: Path) -> None:
    """The 520-request demo session: read in a worker, its tree added over a few frames,
    with the whole request order known at once and the first request selected."""
    from core.demo import demo_store_copy
    from tui.widgets.request_tree import LOAD_CHUNK

    with Store(demo_store_copy(tmp_path)) as demo:
        batch = demo.list_sessions(sort="requests", descending=True, limit=1)[0]
        assert batch.requests > 3 * LOAD_CHUNK
        app = RepriseApp(demo)
        async with app.run_test(size=SIZE) as pilot:
            await settled(pilot)
            app.open_session(batch.id)
            await settled(pilot)
            screen = app.screen
            assert isinstance(screen, SessionScreen) and len(screen.requests) == batch.requests
            tree = screen.query_one(RequestTree)
            assert len(tree.request_order()) == batch.requests
            deadline = asyncio.get_running_loop().time() + 20
            while tree.is_loading:  # one chunk per frame
                assert asyncio.get_running_loop().time() < deadline, "the tree never filled in"
                await pilot.pause(0.02)
            assert len(tree._leaves) == batch.requests
            assert tree.current_request is not None
            assert tree.current_request.id == screen.requests[0].id


async def test_sessions_without_cost_show_unknown_not_zero(tmp_path: Path) -> None:
    """A recorded session without costs reads `–` in the list and the session's border,
    sorts after known costs, and a session with some costs shows their sum."""
    store = Store(tmp_path / "nocost.db")
    store.upsert_requests([r.model_copy(update={"cost": None})
                           for r in debate_requests("s-recorded", "Recorded")])
    mixed = debate_requests("s-mixed", "Mixed")[:2]
    store.upsert_requests([mixed[0], mixed[1].model_copy(update={"cost": None})])
    app = RepriseApp(store)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settled(pilot)
            table = app.screen.query_one(SessionList)
            table.set_sort("cost", descending=False)
            await settled(pilot)
            lines = [table.render_line(y).text for y in (1, 2)]
            assert "Mixed" in lines[0] and "$0.0001" in lines[0] and "$0 " not in lines[0]
            assert "Recorded" in lines[1] and lines[1].count("–") == 2 and "$0" not in lines[1]
            table.move_to(1)
            await pilot.press("enter")
            await settled(pilot)
            assert isinstance(app.screen, SessionScreen)
            assert app.screen.query_one(RequestTree).border_subtitle.endswith(" · –")
    finally:
        store.close()

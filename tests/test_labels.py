"""Requests named by path, edits by what they change, and honest numbers (similarity of a failed
recording, a cancelled matrix, latency on the local model)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from core.demo import demo_store_copy
from core.demo_replay import DEBATE_SESSION, seed_demo_replay
from core.labels import describe_change, fit, request_labels
from core.replay.models import ReplayResult, ReplaySpec
from core.store import Store
from tests.pilot import replay_form_open, until_screen


def req(rid: str, path: str, prompt: str | None) -> SimpleNamespace:
    return SimpleNamespace(id=rid, session_path=path, prompt_id=prompt)


def test_requests_are_named_by_path_and_numbered_where_they_repeat() -> None:
    requests = [
        req("a", "/debate/climate/turn-1", "argument-evaluation"),
        req("b", "/debate/climate/turn-1", "assistant-argument"),
        req("c", "/debate/climate/turn-1", "argument-evaluation"),
        req("d", "/debate/climate/turn-2", "argument-evaluation"),
    ]
    assert request_labels(requests) == {
        "a": "turn-1 · argument-evaluation #1",
        "b": "turn-1 · assistant-argument",
        "c": "turn-1 · argument-evaluation #2",
        "d": "turn-2 · argument-evaluation",
    }
    same_path = [req("x", "/tutor/explain", "math-tutor"), req("y", "/tutor/explain", None)]
    assert request_labels(same_path) == {"x": "explain · math-tutor", "y": "explain"}
    assert fit("turn-2 · argument-evaluation #12", 20) == "turn-2 · argume… #12"


def test_edits_are_described_by_what_they_change() -> None:
    prompt = "You are a judge. Give a score from 1 to 10."
    assert describe_change(prompt, prompt + " Be strict.") == "adds “Be strict.” at the end"
    assert describe_change(prompt, prompt.replace("judge.", "harsh judge.")) == (
        "adds “harsh” before “judge.”")
    assert describe_change(prompt, prompt.replace("10", "5")) == "“10.” → “5.”"
    assert describe_change(prompt, prompt.replace(" Give a score from 1 to 10.", "")) == (
        "removes “Give a score from 1 to …”")


async def test_cancelled_requests_of_a_matrix_are_not_failures(tmp_path: Path) -> None:
    from core.matrix import matrix_cell_replays, matrix_table
    from tests.test_app_matrix import seed_matrix

    with Store(demo_store_copy(tmp_path)) as store:
        matrix_id = seed_matrix(store)
        cells = matrix_cell_replays(store)
        replay_id = next(iter(cells))
        assert cells[replay_id].startswith(f"matrix {matrix_id[:8]} cell ")
        request_id = next(iter(store.replay_results(replay_id)))
        store.save_result(replay_id, ReplayResult(request_id=request_id, status="cancelled"))
        table = await matrix_table(store, matrix_id)
        row = next(r for r in table.rows if replay_id in r.replay_ids)
        assert row.failed == 0 and row.requests == 8  # the in-flight one is neither


async def test_the_session_keeps_the_users_replay_after_a_matrix(tmp_path: Path) -> None:
    from tests.test_app_matrix import seed_matrix
    from tui.app import RepriseApp
    from tui.config import Config
    from tui.screens.diff import DiffScreen

    with Store(demo_store_copy(tmp_path)) as store:
        mine = seed_demo_replay(store)
        seed_matrix(store)  # its cells' replays are newer than the user's
        app = RepriseApp(store, Config(), start_session=DEBATE_SESSION)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.pause()
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, DiffScreen)
            assert app.screen.replay_id == mine.id
            assert app.screen.sub_title == f"recorded → replay {mine.id[:8]}"


async def test_a_request_recorded_as_429_has_one_similarity_everywhere(tmp_path: Path) -> None:
    from tui.app import RepriseApp
    from tui.config import Config
    from tui.screens.diff import DiffScreen

    with Store(demo_store_copy(tmp_path)) as store:
        session = next(s for s in store.list_sessions("Research Agent"))
        requests = store.session_requests(session.id)
        limited = next(r for r in requests if r.status == 429)
        replay = store.create_replay(ReplaySpec(session_id=session.id,
                                                via="http://127.0.0.1:9/v1"))
        # Stored as older versions did: 100 % against the empty recorded text.
        store.save_result(replay.id, ReplayResult(request_id=limited.id, status="done",
                                                  output_text="An answer.", similarity=1.0))
        store.finish_replay(replay.id, "done")
        app = RepriseApp(store, Config())
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            app.push_screen(DiffScreen(session.id, replay.id, [], limited.id))
            await pilot.pause()
            diff = app.screen
            summary = diff.query_one("#diff-summary")
            line = summary.get_option_at_index(summary.highlighted).prompt.plain
            assert "100%" not in line and " – " in line
            stats = str(diff.query_one("#diff-stats").render())
            assert "similarity –" in stats and "recorded request failed" in stats


async def test_the_local_model_defaults_to_what_it_serves(tmp_path: Path, monkeypatch) -> None:
    """One request at a time: more would only queue, and queueing would count as latency."""
    from tui.app import RepriseApp
    from tui.config import Config, ReplayDefaults
    from tui.screens.matrix_setup import MatrixSetup

    monkeypatch.setattr("core.local_model.local_runtime_available", lambda: True)
    config = Config(replay=ReplayDefaults(base_url="http://127.0.0.1:9/v1", concurrency=8))
    with Store(demo_store_copy(tmp_path)) as store:
        app = RepriseApp(store, config, start_session=DEBATE_SESSION)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await replay_form_open(pilot)
            form = app.screen
            assert form.query_one("#concurrency").value == "1"
            form.query_one("#target").value = "base_url"
            await pilot.pause()
            assert form.query_one("#concurrency").value == "8"
            await pilot.press("escape", "M")
            await until_screen(pilot, MatrixSetup)
            setup = app.screen
            assert setup.query_one("#matrix-concurrency").value == "1"
            assert setup.query_one("#matrix-parallel").value == "1"


async def test_replays_on_the_local_model_never_queue_behind_it(monkeypatch) -> None:
    """Latency is timed after the engine's own limiter: one in flight, nothing queued there."""
    from core.replay.engine import _resolve_local_target

    async def ensure() -> object:
        return SimpleNamespace(base_url="http://127.0.0.1:9/v1")

    monkeypatch.setattr("core.local_model.ensure_local_server", ensure)
    spec = ReplaySpec(session_id="s", via="local", concurrency=8)
    resolved = await _resolve_local_target(spec)
    assert (resolved.via, resolved.concurrency) == ("http://127.0.0.1:9/v1", 1)
    assert spec.concurrency == 8  # the stored spec keeps what the user asked for


def test_an_empty_answer_from_the_local_model_is_explained() -> None:
    from tui.screens.diff import empty_answer_reason

    asked = {"messages": [{"role": "user", "content": "find it"},
                          {"role": "assistant", "tool_calls": [{"id": "c1"}]},
                          {"role": "tool", "tool_call_id": "c1", "content": "found"}]}
    empty = ReplayResult(request_id="r", status="done", output_text="", sent_body=asked)
    assert "local model cannot call tools" in empty_answer_reason(empty, "local")
    assert "no text and no tool calls" in empty_answer_reason(empty, "http://127.0.0.1:9/v1")
    answered = empty.model_copy(update={"output_text": "Here."})
    assert empty_answer_reason(answered, "local") == ""

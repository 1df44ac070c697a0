"""Prompt-version matrix flows: setup from a session, live run, results table, reopen."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.demo import demo_store_copy
from core.demo_replay import DEBATE_SESSION, DEMO_EDIT, FIXED_TIME, rewrite
from core.diff import similarity
from core.evals import ExtractScorer
from core.formats import recorded_output
from core.matrix import MatrixSpec, create_matrix, list_matrices, parse_variant, set_cell_run
from core.replay.models import ReplayResult
from core.store import Store
from tests.servers import FakeProvider, system_and_last_user
from tests.test_app import SIZE
from tests.test_app_replay import wait_for
from tui.app import RepriseApp
from tui.config import Config, ReplayDefaults
from tui.screens.diff import DiffScreen
from tui.screens.matrix import MatricesScreen, MatrixScreen
from tui.screens.matrix_setup import DEFAULT_SCORE, PLAN_DELAY, MatrixSetup

EVAL = "argument-evaluation"
ARGUE = "assistant-argument"
SEEDED_MATRIX = "5eed0000-matrix"


CELL_TIME = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def seed_matrix(store: Store) -> str:
    """A finished matrix of the demo debate with deterministic results (no network)."""
    spec = MatrixSpec(session_ids=[DEBATE_SESSION], via="http://127.0.0.1:8765/v1",
                      scorers=[ExtractScorer(prompt_id=EVAL, pattern=DEFAULT_SCORE)])
    for variant in (parse_variant(EVAL, DEMO_EDIT.text, "v1"),
                    parse_variant(EVAL, "+ Keep the feedback short.", "v2"),
                    parse_variant(ARGUE, "model:gpt-4o temperature:0.2", "v1")):
        spec = spec.add_variant(variant)
    matrix = create_matrix(store, spec, matrix_id=SEEDED_MATRIX, created_at=FIXED_TIME)
    store.set_matrix_status(matrix.id, "done")
    cells = {c.key: c for c in spec.cells()}
    requests = store.session_requests(DEBATE_SESSION, bodies=True)
    for number, run in enumerate(matrix.runs):
        cell = cells[run.cell_key]
        replay = store.create_replay(spec.replay_spec(cell, run.session_id), created_at=CELL_TIME,
                                     replay_id=f"5eed{number:04d}-cell")
        for index, request in enumerate(requests):
            original = recorded_output(request).text
            text = original
            if request.prompt_id == EVAL and cell.variants[EVAL] != "original":
                text = rewrite(original, index + number)
            if request.prompt_id == ARGUE and cell.variants[ARGUE] != "original":
                text = text.replace("households", "families").replace("about", "roughly")
            store.save_result(replay.id, ReplayResult(
                request_id=request.id, status="done", output_text=text,
                latency_ms=700.0 + 40 * index + 90 * number,
                prompt_tokens=request.prompt_tokens, completion_tokens=request.completion_tokens,
                similarity=similarity(original, text), attempts=1, finished_at=FIXED_TIME))
        store.finish_replay(replay.id, "done")
        set_cell_run(store, matrix.id, run, replay_id=replay.id, status="done")
    return matrix.id


def debate_reply(body: dict[str, Any]) -> str:
    system, user = system_and_last_user(body)
    if "impartial judge" in system:
        return "Score: 9/10. Short." if "short" in system else "Score: 4/10. Long-winded."
    return f"[{body.get('model')}] {user[:30]}"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr("core.local_model.local_runtime_available", lambda: False)
    store = Store(demo_store_copy(tmp_path))
    yield store
    store.close()


def config_for(server: FakeProvider) -> Config:
    return Config(replay=ReplayDefaults(target="base_url", base_url=server.base_url + "/v1",
                                        concurrency=4))


async def open_setup(pilot, app: RepriseApp) -> MatrixSetup:
    await pilot.pause()
    await pilot.press("M")
    await planned(pilot)
    setup = app.screen
    assert isinstance(setup, MatrixSetup)
    return setup


async def planned(pilot) -> None:
    """Past the plan's debounce, its worker done and its message shown."""
    await pilot.pause(PLAN_DELAY + 0.05)
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_matrix_setup_run_sort_and_open(demo: Store) -> None:
    with FakeProvider(reply=debate_reply, latency=0.01) as server:
        app = RepriseApp(demo, config_for(server), start_session=DEBATE_SESSION)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            session = app.screen
            await pilot.press("e", *" Keep the feedback short.", "ctrl+s")
            await pilot.pause()
            setup = await open_setup(pilot, app)
            assert setup.prompt_ids == [EVAL, "assistant-argument"]
            variants = setup.query_one("#variants-0")
            assert variants.text.startswith("You are an impartial judge")
            assert variants.text.endswith("Keep the feedback short.")
            assert setup.query_one("#score-0").value == DEFAULT_SCORE
            assert setup.query_one("#score-1").value == ""
            variants.load_text(variants.text + "\nBe a harsh judge.")
            await planned(pilot)
            plan = str(setup.query_one("#matrix-plan").render())
            assert "3 cells × 1 session: 27 calls" in plan
            assert server.base_url in plan
            await pilot.press("ctrl+s")
            await planned(pilot)
            screen = app.screen
            assert isinstance(screen, MatrixScreen)
            await wait_for(pilot, lambda: screen.run_worker_ is not None
                           and screen.run_worker_.is_finished, 30)
            await wait_for(pilot, lambda: screen.table is not None
                           and all(r.status == "done" for r in screen.table.rows), 30)
            await pilot.pause()
            assert len(server.received) == 27
            table = screen.table
            by_label = {r.variants[EVAL]: r for r in table.rows}
            assert by_label["v1"].score == 9.0 and by_label["original"].score == 4.0
            assert by_label["v2"].score is None
            assert "3/3 cells" in str(screen.query_one("#matrix-counts").render())
            # The cells replayed in a process of their own (core.replay.child), not the app's.
            owners = {demo.get_replay(rid).owner_pid for r in table.rows for rid in r.replay_ids}
            assert owners and None not in owners and os.getpid() not in owners

            await pilot.press("o")  # cell_key → score
            await pilot.pause()
            assert screen.sort_key == "score" and screen.descending
            grid = screen.query_one("#matrix-table")
            first = grid.coordinate_to_cell_key((0, 0)).row_key.value
            assert first == f"{EVAL}=v1"
            await pilot.press("O")
            await pilot.pause()
            assert not screen.descending
            grid.move_cursor(row=0)
            await pilot.press("enter")
            await pilot.pause()
            diff = app.screen
            assert isinstance(diff, DiffScreen)
            assert diff.replay_id in {rid for r in table.rows for rid in r.replay_ids}
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is session

            app.action_matrices()
            await pilot.pause()
            assert isinstance(app.screen, MatricesScreen)
            await pilot.press("enter")
            await pilot.pause()
            reopened = app.screen
            assert isinstance(reopened, MatrixScreen)
            assert reopened.matrix_id == screen.matrix_id
            await wait_for(pilot, lambda: reopened.table is not None)
            assert len(reopened.table.rows) == 3


async def test_matrix_cancel_and_resume(demo: Store) -> None:
    with FakeProvider(reply=debate_reply, latency=0.3) as server:
        app = RepriseApp(demo, config_for(server), start_session=DEBATE_SESSION)
        async with app.run_test(size=SIZE) as pilot:
            setup = await open_setup(pilot, app)
            setup.query_one("#variants-0").load_text("Be a harsh judge.")
            await pilot.pause()
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen))
            screen = app.screen
            await wait_for(pilot, lambda: "running" in screen.cell_status.values())
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.run_worker_.is_finished)
            await pilot.pause()
            assert app.screen is screen
            (matrix,) = list_matrices(demo)
            assert matrix.status == "interrupted"
            await pilot.press("r")
            await wait_for(pilot, lambda: screen.run_worker_.is_finished, 30)
            await pilot.pause()
            (matrix,) = list_matrices(demo)
            assert matrix.status == "done" and matrix.finished == 2


async def test_matrix_setup_reports_invalid_input(demo: Store) -> None:
    app = RepriseApp(demo, Config(), start_session=DEBATE_SESSION)
    async with app.run_test(size=SIZE) as pilot:
        setup = await open_setup(pilot, app)
        setup.query_one("#score-0").value = "Score: (\\d+) (\\d+)"
        await planned(pilot)
        assert "at most one group" in str(setup.query_one("#matrix-plan").render())
        await pilot.press("ctrl+s")
        await planned(pilot)
        assert app.screen is setup
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, MatrixSetup)


async def test_matrix_setup_refuses_a_target_without_its_key(
        demo: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OPENAI_API_KEY every cell would fail alike: the plan says why and Start
    refuses, leaving the form open and no matrix stored."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app = RepriseApp(demo, Config(replay=ReplayDefaults(target="original")),
                     start_session=DEBATE_SESSION)
    async with app.run_test(size=SIZE) as pilot:
        setup = await open_setup(pilot, app)
        note = str(setup.query_one("#matrix-plan").render())
        assert "cannot start" in note and "OPENAI_API_KEY is not set" in note
        await pilot.press("ctrl+s")
        await planned(pilot)
        assert app.screen is setup
        assert list_matrices(demo) == []


async def test_seeded_matrix_reopens_with_scores(demo: Store) -> None:
    matrix_id = seed_matrix(demo)
    app = RepriseApp(demo, Config())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.push_screen(MatrixScreen(matrix_id=matrix_id))
        await pilot.pause()
        screen = app.screen
        await wait_for(pilot, lambda: screen.table is not None)
        rows = screen.table.rows
        assert len(rows) == 6 and all(r.status == "done" for r in rows)
        baseline = next(r for r in rows if set(r.variants.values()) == {"original"})
        assert baseline.similarity == 1.0 and baseline.score_delta == 0
        assert any(r.score_delta is not None and r.score_delta < 0 for r in rows)

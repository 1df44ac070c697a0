"""The prompt-version matrix: variants, the cartesian product and its cap, cost estimates,
concurrent runs against a loopback provider, and resuming an interrupted matrix."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from core.demo import demo_store_copy
from core.evals import ExtractScorer
from core.matrix import (
    ORIGINAL,
    MatrixSpec,
    MatrixTooLarge,
    estimate_call_cost,
    get_matrix,
    list_matrices,
    matrix_table,
    parse_variant,
    parse_variant_option,
    plan_matrix,
    price_for,
    run_matrix,
    variant_from_file,
)
from core.replay.transport import TargetRefused
from core.store import Store
from tests.servers import FakeProvider, system_and_last_user

DEBATE = "d3a9f2fb-282e-5b8d-98a8-2dc0e9681a75"
EVAL = "argument-evaluation"
ARGUE = "assistant-argument"
SCORE = ExtractScorer(prompt_id=EVAL, pattern=r"Score:\s*(\d+)")


def debate_reply(body: dict[str, Any]) -> str:
    system, user = system_and_last_user(body)
    if "impartial judge" in system:
        return "Score: 9/10. Short." if "short" in system else "Score: 4/10. Long-winded."
    return f"[{body.get('model')}] {user[:30]}"


@pytest.fixture
def demo(tmp_path: Path) -> Store:
    with Store(demo_store_copy(tmp_path)) as store:
        yield store


def spec_for(base_url: str, **extra: Any) -> MatrixSpec:
    spec = MatrixSpec(session_ids=[DEBATE], via=base_url, scorers=[SCORE], **extra)
    existing: dict[str, list] = {}
    for option in (f"{EVAL}=+ Keep the feedback short.", f"{EVAL}=Be a harsh judge.",
                   f"{ARGUE}=model:gpt-4o temperature:0.2"):
        variant = parse_variant_option(option, existing)
        existing.setdefault(variant.prompt_id, []).append(variant)
        spec = spec.add_variant(variant)
    return spec


def test_variant_syntax(tmp_path: Path) -> None:
    append = parse_variant("p", "+ Keep it short.", "v1")
    assert (append.kind, append.text) == ("append", " Keep it short.")
    assert parse_variant("p", "+tight", "v1").text == " tight"
    replace = parse_variant("p", "You are terse.", "v2")
    assert (replace.kind, replace.text) == ("replace", "You are terse.")
    params = parse_variant("p", "model:gpt-4o temperature:0.3", "v3")
    assert (params.kind, params.model, params.temperature) == ("params", "gpt-4o", 0.3)
    assert params.description == "model:gpt-4o temperature:0.3"
    # A prompt that merely mentions a colon is still a replacement.
    assert parse_variant("p", "model: be careful", "v4").kind == "replace"
    with pytest.raises(ValueError):
        parse_variant("p", "temperature:hot", "v5")
    with pytest.raises(ValueError):
        parse_variant("p", "  ", "v6")
    with pytest.raises(ValueError):
        parse_variant_option("no equals", {})
    file = tmp_path / "concise.txt"
    file.write_text("+ Answer in one sentence.\n")
    loaded = variant_from_file("p", file)
    assert (loaded.label, loaded.kind, loaded.text) == ("concise", "append",
                                                        " Answer in one sentence.")
    with pytest.raises(ValueError):
        variant_from_file("p", tmp_path / "missing.txt")


def test_cartesian_product_includes_the_original() -> None:
    spec = spec_for("http://127.0.0.1:1")
    cells = spec.cells()
    assert spec.cell_count() == len(cells) == 6  # (1 + 2) × (1 + 1)
    assert cells[0].is_baseline and cells[0].edits.is_empty
    assert {tuple(sorted(c.variants.items())) for c in cells} == {
        ((EVAL, e), (ARGUE, a)) for a in (ORIGINAL, "v1") for e in (ORIGINAL, "v1", "v2")}
    assert len({c.key for c in cells}) == 6
    both = next(c for c in cells if c.variants == {EVAL: "v1", ARGUE: "v1"})
    assert [e.mode for e in both.edits.system] == ["append"]
    assert both.edits.params[0].model == "gpt-4o" and both.edits.params[0].target == ARGUE


def test_cap_refuses_before_anything_runs(demo: Store) -> None:
    spec = spec_for("http://127.0.0.1:1", max_cells=5)
    with pytest.raises(MatrixTooLarge) as info:
        spec.cells()
    assert info.value.cells == 6 and "--max-cells" in str(info.value)
    with pytest.raises(MatrixTooLarge):
        plan_matrix(demo, spec)
    with pytest.raises(MatrixTooLarge):
        asyncio.run(run_matrix(demo, spec))
    assert list_matrices(demo) == []
    assert spec.model_copy(update={"max_cells": 6}).cells()


def test_duplicate_labels_are_refused() -> None:
    spec = MatrixSpec(session_ids=[DEBATE])
    spec = spec.add_variant(parse_variant(EVAL, "a", "x")).add_variant(
        parse_variant(EVAL, "b", "x"))
    with pytest.raises(ValueError, match="share a label"):
        spec.cells()


def test_plan_counts_calls_and_estimates_cost(demo: Store) -> None:
    requests = demo.session_requests(DEBATE)
    recorded = sum(r.cost or 0 for r in requests)
    assert price_for("openai/gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_for("gpt-4o-2024-08-06") == (2.50, 10.00)
    assert price_for("mystery") is None
    assert estimate_call_cost("mystery", 10, 10, 0.5) == 0.5
    only_original = plan_matrix(demo, MatrixSpec(session_ids=[DEBATE]))
    assert (only_original.cells, only_original.calls) == (1, 9)
    # The built-in price table reproduces the recorded gpt-4o-mini costs.
    assert only_original.estimated_cost == pytest.approx(recorded)
    plan = plan_matrix(demo, spec_for("http://127.0.0.1:1"))
    assert (plan.cells, plan.sessions, plan.calls_per_cell, plan.calls) == (6, 1, 9, 54)
    argue = [r for r in requests if r.prompt_id == ARGUE]
    mini = sum(estimate_call_cost("gpt-4o-mini", r.prompt_tokens, r.completion_tokens)
               for r in argue)
    big = sum(estimate_call_cost("gpt-4o", r.prompt_tokens, r.completion_tokens) for r in argue)
    assert plan.estimated_cost == pytest.approx(6 * recorded + 3 * (big - mini))
    assert "54 calls" in plan.describe()
    tutor = "8cb7f710-854c-5f54-a457-719846cbaebc"
    two_sessions = plan_matrix(demo, MatrixSpec(session_ids=[DEBATE, tutor, DEBATE]))
    assert (two_sessions.sessions, two_sessions.calls) == (2, 11)
    with pytest.raises(ValueError):
        plan_matrix(demo, MatrixSpec(session_ids=["nope"]))


async def test_run_matrix_and_results_table(demo: Store) -> None:
    events: list[str] = []
    with FakeProvider(reply=debate_reply, latency=0.01) as server:
        spec = spec_for(server.base_url, parallel_cells=3, concurrency=4)
        matrix = await run_matrix(demo, spec, on_event=lambda e: events.append(e.kind))
        assert len(server.received) == 54
        assert server.max_active > 1  # cells and requests ran concurrently
        bodies = server.bodies()
    assert matrix.status == "done" and matrix.finished == 6
    assert events.count("cell_finished") == 6 and events[-1] == "matrix_finished"
    sent_systems = {b["messages"][0]["content"] for b in bodies}
    assert any(s.endswith("Start your answer with 'Score: N/10'. Keep the feedback short.")
               for s in sent_systems)
    assert "Be a harsh judge." in sent_systems
    assert {b["model"] for b in bodies} == {"gpt-4o-mini", "gpt-4o"}
    assert all(b.get("temperature") == 0.2 for b in bodies if b["model"] == "gpt-4o")

    table = await matrix_table(demo, matrix.id)
    assert table.baseline_score == pytest.approx(7.0)
    assert len(table.rows) == 6 and table.prompt_ids == [EVAL, ARGUE]
    by_eval = {}
    for row in table.rows:
        assert row.status == "done" and len(row.replay_ids) == 1
        assert row.requests == 9 and row.failed == 0 and row.tokens > 0
        assert row.cost is not None and row.cost > 0
        assert row.latency_ms is not None and 0 <= row.similarity <= 1
        by_eval.setdefault(row.variants[EVAL], set()).add(row.score)
    # v2 replaced the judge's prompt, so its replies carry no "Score:" at all.
    assert by_eval == {"v1": {9.0}, ORIGINAL: {4.0}, "v2": {None}}
    assert [r.variants[EVAL] for r in table.sorted("score")[-2:]] == ["v2", "v2"]
    best = table.sorted("score")[0]
    assert best.variants[EVAL] == "v1" and best.score_delta == pytest.approx(2.0)
    assert best.improved == 5 and best.worse == 0
    cheapest = table.sorted("cost", descending=False)[0]
    assert cheapest.variants[ARGUE] == ORIGINAL
    with pytest.raises(ValueError):
        table.sorted("nonsense")
    data = table.to_json_dict()
    assert data["baseline_score"] == pytest.approx(7.0)
    assert set(data["cells"][0]) >= {"variants", "replay_ids", "score", "similarity",
                                     "failed", "cost"}
    # Every cell's replay is a normal replay: the diff view can open it.
    replay = demo.get_replay(best.replay_ids[0])
    assert replay is not None and replay.status == "done"


async def test_failures_are_counted_per_cell(demo: Store) -> None:
    with FakeProvider(reply=debate_reply) as server:
        server.fail_next(1000, status=400)
        spec = MatrixSpec(session_ids=[DEBATE], via=server.base_url, scorers=[SCORE])
        matrix = await run_matrix(demo, spec)
    table = await matrix_table(demo, matrix.id)
    (row,) = table.rows
    assert row.failed == 9 and row.score is None and row.similarity is None
    assert table.sorted("score")[0] is row  # rows without a score sort last, never crash


async def test_interrupted_matrix_resumes(demo: Store) -> None:
    with FakeProvider(reply=debate_reply, latency=0.02) as server:
        spec = spec_for(server.base_url, parallel_cells=1, concurrency=2)
        finished: list[str] = []
        task: asyncio.Task | None = None

        def on_event(event: Any) -> None:
            if event.kind == "cell_finished":
                finished.append(event.cell_key)
            # Stop in the middle of the third cell's replay.
            if (len(finished) == 2 and event.kind == "replay" and event.event.kind == "finished"
                    and task is not None):
                task.cancel()

        task = asyncio.create_task(run_matrix(demo, spec, on_event=on_event))
        with pytest.raises(asyncio.CancelledError):
            await task
        (matrix,) = list_matrices(demo)
        assert matrix.status == "interrupted"
        statuses = [r.status for r in matrix.runs]
        assert statuses[:2] == ["done", "done"] and statuses[2] == "running"
        partial_id = matrix.runs[2].replay_id
        partial = demo.replay_results(partial_id)
        kept = sum(r.status == "done" for r in partial.values())
        assert 0 < kept < 9
        sent_before = len(server.received)

        with pytest.raises(TargetRefused, match=f"--via {server.base_url}"):
            await run_matrix(demo, resume_id=matrix.id)  # the stored target is not trusted
        resumed = await run_matrix(demo, resume_id=matrix.id, target=spec.target())
        assert resumed.status == "done" and resumed.finished == 6
        # Finished cells were skipped; the interrupted replay sent only what it lacked.
        assert len(server.received) - sent_before == 3 * 9 + (9 - kept)
        assert resumed.runs[2].replay_id == partial_id
        assert [r.replay_id for r in resumed.runs[:2]] == [r.replay_id for r in matrix.runs[:2]]
        assert len({r.replay_id for r in resumed.runs}) == 6
    assert all(len(demo.replay_results(r.replay_id)) == 9 for r in resumed.runs)
    again = await run_matrix(demo, resume_id=matrix.id, target=spec.target())  # nothing to do
    assert again.status == "done"
    assert get_matrix(demo, matrix.id).spec == spec
    with pytest.raises(ValueError):
        await run_matrix(demo, resume_id="missing")


def test_a_missing_key_refuses_the_matrix_once(demo: Store) -> None:
    """Every cell would be refused alike: the plan says so and the run refuses before any
    matrix is stored, instead of failing each cell."""
    spec = MatrixSpec(session_ids=[DEBATE], via="original", scorers=[SCORE])
    plan = plan_matrix(demo, spec, env={})
    assert plan.refused is not None and "OPENAI_API_KEY" in plan.refused
    assert plan_matrix(demo, spec).refused is None  # no environment given: not checked
    assert plan_matrix(demo, spec, env={"OPENAI_API_KEY": "sk-test-0000"}).refused is None
    with pytest.raises(TargetRefused, match="OPENAI_API_KEY"):
        asyncio.run(run_matrix(demo, spec, env={}))
    assert list_matrices(demo) == []

"""Scorers against real replays of the demo debate session on a loopback provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from core.demo import demo_store_copy
from core.edits import EditSet, SystemEdit
from core.evals import (
    ExtractScorer,
    JudgeScorer,
    ReplayScores,
    attach_scorers,
    attached_scorers,
    judge_keys_of,
    parse_score_option,
    recorded_session_score,
    score_replay,
    score_writes,
    write_scores_to_helicone,
)
from core.replay.engine import run_replay
from core.replay.models import ReplaySpec
from core.store import Store
from tests.servers import FakeProvider, system_and_last_user

DEBATE = "d3a9f2fb-282e-5b8d-98a8-2dc0e9681a75"
SCORE_RE = r"Score:\s*(\d+(?:\.\d+)?)"


def debate_reply(body: dict[str, Any]) -> str:
    """The judge scores 9 when told to be short, says nothing numeric when told to refuse."""
    system, user = system_and_last_user(body)
    if "impartial judge" in system:
        if "Refuse" in system:
            return "I would rather not grade this."
        return "Score: 9/10. Short." if "short" in system else "Score: 4/10. Meh."
    return f"counter: {user[:40]}"


@pytest.fixture
def demo(tmp_path: Path) -> Store:
    with Store(demo_store_copy(tmp_path)) as store:
        yield store


@pytest.fixture
def provider() -> FakeProvider:
    with FakeProvider(reply=debate_reply) as server:
        yield server


async def replay_with(store: Store, server: FakeProvider, text: str | None) -> str:
    edits = EditSet()
    if text is not None:
        edits = edits.set_system(SystemEdit(target="argument-evaluation", text=text,
                                            mode="append"))
    replay = await run_replay(store, ReplaySpec(session_id=DEBATE, via=server.base_url,
                                                edits=edits))
    return replay.id


def test_extract_scorer_reads_numbers_and_missing_scores() -> None:
    scorer = ExtractScorer(prompt_id="p", pattern=SCORE_RE)
    assert scorer.extract("Score: 7/10. Good.") == 7.0
    assert scorer.extract("Score: 6.5/10") == 6.5
    assert scorer.extract("No verdict today.") is None
    assert scorer.extract("") is None
    whole = ExtractScorer(prompt_id="p", pattern=r"\d+/10")
    assert whole.extract("it is 8/10") == 8.0
    with pytest.raises(ValueError):
        ExtractScorer(prompt_id="p", pattern="(a)(b)")
    with pytest.raises(ValueError):
        ExtractScorer(prompt_id="p", pattern="(unclosed")
    assert parse_score_option("argument-evaluation=Score: (\\d+)").prompt_id == (
        "argument-evaluation")
    with pytest.raises(ValueError):
        parse_score_option("no-equals-sign")


def test_recorded_session_score_is_the_mean_of_the_judge(demo: Store) -> None:
    scorer = ExtractScorer(prompt_id="argument-evaluation", pattern=SCORE_RE)
    # The demo's judge answered 6, 8, 5, 8, 6, 9.
    assert recorded_session_score(demo, DEBATE, [scorer]) == pytest.approx(42 / 6)


async def test_score_replay_original_replay_delta_and_summary(
    demo: Store, provider: FakeProvider
) -> None:
    replay_id = await replay_with(demo, provider, " Keep the feedback short.")
    scorer = ExtractScorer(prompt_id="argument-evaluation", pattern=SCORE_RE)
    scores = await score_replay(demo, replay_id, [scorer])
    rows = [r for r in scores.rows if r.scorer]
    assert len(rows) == 6
    assert [r.original for r in rows] == [6, 8, 5, 8, 6, 9]
    assert all(r.replay == 9 for r in rows)
    assert [r.delta for r in rows] == [3, 1, 4, 1, 3, 0]
    assert all(r.helicone.get("argument_score") == r.original for r in rows)
    summary = scores.summary
    assert summary.count == 6 and summary.improved == 5 and summary.unchanged == 1
    assert summary.worse == 0 and summary.missing == 0
    assert summary.mean_replay == 9 and summary.min_original == 5
    assert scores.by_scorer[scorer.label].mean_delta == pytest.approx(2.0)
    assert scores.session_score == 9 and scores.baseline_score == pytest.approx(7.0)
    assert scores.to_json_dict()["rows"][0]["delta"] == 3


async def test_responses_without_a_score_count_as_missing(
    demo: Store, provider: FakeProvider
) -> None:
    replay_id = await replay_with(demo, provider, " Refuse to grade.")
    scorer = ExtractScorer(prompt_id="argument-evaluation", pattern=SCORE_RE)
    scores = await score_replay(demo, replay_id, [scorer])
    rows = [r for r in scores.rows if r.scorer]
    assert all(r.replay is None and r.delta is None for r in rows)
    assert all(r.note == "no score in the response" for r in rows)
    assert scores.summary.missing == 6 and scores.summary.count == 0
    assert scores.summary.mean_replay is None and scores.summary.improved == 0


async def test_failed_requests_have_no_replay_score(demo: Store) -> None:
    with FakeProvider(reply=debate_reply) as server:
        server.fail_next(200, status=400)
        replay_id = await replay_with(demo, server, None)
    scores = await score_replay(
        demo, replay_id, [ExtractScorer(prompt_id="argument-evaluation", pattern=SCORE_RE)])
    rows = [r for r in scores.rows if r.scorer]
    assert rows and all(r.replay is None for r in rows)
    assert all((r.note or "").startswith(("replay failed", "replay blocked")) for r in rows)
    assert any("HTTP 400" in (r.note or "") for r in rows)


async def test_scorers_are_kept_with_the_replay(demo: Store, provider: FakeProvider) -> None:
    replay_id = await replay_with(demo, provider, None)
    assert attached_scorers(demo, replay_id) == []
    scorers = [ExtractScorer(prompt_id="argument-evaluation", pattern=SCORE_RE),
               JudgeScorer(prompt_id="assistant-argument", via="http://127.0.0.1:1",
                           model="m", name="quality")]
    attach_scorers(demo, replay_id, scorers)
    assert attached_scorers(demo, replay_id) == scorers
    scores = await score_replay(demo, replay_id, scorers[:1])
    assert scores.summary.mean_replay == 4


async def test_judge_calls_are_cached(demo: Store, provider: FakeProvider) -> None:
    replay_id = await replay_with(demo, provider, None)

    def grade(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        return "I'd say 7.5 out of 10" if "counter:" in prompt else "8"

    with FakeProvider(reply=grade) as judge_server:
        scorer = JudgeScorer(prompt_id="assistant-argument", via=judge_server.base_url,
                             model="judge-model", api_key_env="JUDGE_KEY",
                             template="Q: {input}\nA: {output}\nScore 1-10.")
        env = {"JUDGE_KEY": "sk-judge"}
        # Stored with the scorer, the key variable alone sends nothing: it is named here.
        await score_replay(demo, replay_id, [scorer.model_copy(update={"model": "m0"})],
                           env=env)
        assert all("authorization" not in r.headers for r in judge_server.received)
        judge_server.received.clear()
        first = await score_replay(demo, replay_id, [scorer], env=env,
                                   judge_keys=judge_keys_of([scorer]))
        sent = len(judge_server.received)
        # 3 recorded outputs + 3 replayed outputs, all different prompts.
        assert sent == 6 and first.judge_calls == 6
        assert judge_server.received[0].headers["authorization"] == "Bearer sk-judge"
        assert judge_server.received[0].body["model"] == "judge-model"
        rows = [r for r in first.rows if r.scorer == scorer.label]
        assert [r.original for r in rows] == [8, 8, 8]
        assert [r.replay for r in rows] == [7.5, 7.5, 7.5]
        again = await score_replay(demo, replay_id, [scorer], env=env,
                                   judge_keys=judge_keys_of([scorer]))
        assert len(judge_server.received) == sent and again.judge_calls == 0
        assert [r.model_dump() for r in again.rows] == [r.model_dump() for r in first.rows]
        # Another model is another cache key.
        other = scorer.model_copy(update={"model": "judge-2"})
        await score_replay(demo, replay_id, [other], env=env)
        assert len(judge_server.received) == sent + 6


async def test_judge_failures_are_notes_not_crashes(demo: Store, provider: FakeProvider) -> None:
    replay_id = await replay_with(demo, provider, None)
    with FakeProvider() as judge_server:
        judge_server.fail_next(100, status=401)
        scorer = JudgeScorer(prompt_id="assistant-argument", via=judge_server.base_url)
        scores = await score_replay(demo, replay_id, [scorer])
    rows = [r for r in scores.rows if r.scorer]
    assert all(r.replay is None and "HTTP 401" in (r.note or "") for r in rows)
    # Nothing failed was cached: a healthy judge is asked again.
    with FakeProvider(reply=lambda body: "6") as judge_server:
        scorer = scorer.model_copy(update={"via": judge_server.base_url})
        scores = await score_replay(demo, replay_id, [scorer])
        assert len(judge_server.received) == 6
    assert all(r.replay == 6 for r in scores.rows if r.scorer)


async def test_write_back_posts_scores(demo: Store, provider: FakeProvider) -> None:
    replay_id = await replay_with(demo, provider, " short")
    scores = await score_replay(
        demo, replay_id, [ExtractScorer(prompt_id="argument-evaluation", pattern=SCORE_RE,
                                        name="judge score")])
    first = next(r for r in scores.rows if r.scorer)
    writes = score_writes(scores, {first.request_id: "hel-1"})
    assert [(w.helicone_request_id, w.scores) for w in writes] == [
        ("hel-1", {"reprise_judge_score": 9.0})]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"data": None, "error": None})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        done = await write_scores_to_helicone(writes, api_key="sk-helicone-x", client=client)
    assert done[0].ok and seen[0].url.path == "/v1/request/hel-1/score"
    assert seen[0].headers["authorization"] == "Bearer sk-helicone-x"
    assert seen[0].read() == b'{"scores":{"reprise_judge_score":9.0}}'
    assert isinstance(scores, ReplayScores)


# -- command line -----------------------------------------------------------------------------


def run_cli(db: Path, *args: str) -> Any:
    from click.testing import CliRunner

    from tui.cli import cli

    return CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)


def test_cli_matrix_score_and_export(tmp_path: Path) -> None:
    import json
    from html.parser import HTMLParser

    db = demo_store_copy(tmp_path)
    with FakeProvider(reply=debate_reply) as server:
        common = ["--variant", "argument-evaluation=+ Keep it short.",
                  "--variant", "assistant-argument=model:gpt-4o",
                  "--score", f"argument-evaluation={SCORE_RE}", "--via", server.base_url]
        dry = run_cli(db, "matrix", DEBATE, *common, "--dry-run", "--json")
        assert dry.exit_code == 0, dry.output
        plan = json.loads(dry.output)
        assert (plan["cells"], plan["calls"]) == (4, 36) and plan["estimated_cost"] > 0
        assert not server.received  # a dry run sends nothing
        capped = run_cli(db, "matrix", DEBATE, *common, "--max-cells", "3")
        assert capped.exit_code == 1 and "cap of 3" in capped.output
        result = run_cli(db, "matrix", DEBATE, *common, "--json")
        assert result.exit_code == 0, result.output
        assert len(server.received) == 36
    data = json.loads(result.stdout)
    assert data["baseline_score"] == pytest.approx(7.0)
    assert len(data["cells"]) == 4
    top = data["cells"][0]  # sorted by score
    assert top["variants"]["argument-evaluation"] == "v1" and top["score"] == 9
    assert {"variants", "replay_ids", "score", "similarity", "failed", "cost"} <= set(top)
    replay_id = top["replay_ids"][0]

    scored = run_cli(db, "score", replay_id, "--score", f"argument-evaluation={SCORE_RE}",
                     "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["summary"]["improved"] == 5
    text = run_cli(db, "score", replay_id)  # the scorer was kept with the replay
    assert text.exit_code == 0 and "5 improved" in text.output
    bad = run_cli(db, "score", replay_id, "--score", "argument-evaluation=(a)(b)")
    assert bad.exit_code == 1 and "at most one group" in bad.output
    assert run_cli(db, "score", "missing").exit_code == 1

    out = tmp_path / "report.html"
    exported = run_cli(db, "export", replay_id, "-o", str(out))
    assert exported.exit_code == 0, exported.output
    page = out.read_text()
    HTMLParser().feed(page)
    assert page.startswith("<!DOCTYPE html>") and 'class="ins"' in page
    assert "Session score" in page
    md = run_cli(db, "export", replay_id, "--format", "md")
    assert md.exit_code == 0 and md.stdout.startswith(f"# Replay {replay_id}")
    as_json = run_cli(db, "export", replay_id, "--format", "json")
    assert json.loads(as_json.stdout)["scores"]["summary"]["mean_replay"] == 9


def test_cli_matrix_without_its_key_refuses_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """To the original providers without OPENAI_API_KEY: one refusal, no matrix stored."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    db = demo_store_copy(tmp_path)
    args = ["matrix", DEBATE, "--variant", "argument-evaluation=+ Keep it short.",
            "--via", "original"]
    dry = run_cli(db, *args, "--dry-run")
    assert dry.exit_code == 0 and "cannot start: $OPENAI_API_KEY is not set" in dry.output
    refused = run_cli(db, *args)
    assert refused.exit_code == 1 and "OPENAI_API_KEY is not set" in refused.output
    with Store(db) as store:
        from core.matrix import list_matrices

        assert list_matrices(store) == []


async def test_judge_on_the_local_model_starts_it_on_demand(
    demo: Store, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    replay_id = await replay_with(demo, provider, None)
    with FakeProvider(reply=lambda body: "6") as local_model:
        started: list[bool] = []

        async def ensure() -> Any:
            started.append(True)
            return type("Server", (), {"base_url": local_model.base_url + "/v1"})()

        monkeypatch.setattr("core.local_model.ensure_local_server", ensure)
        scorer = JudgeScorer(prompt_id="assistant-argument", via="local", model="local")
        scores = await score_replay(demo, replay_id, [scorer], env={})
        assert started and len(local_model.received) == 6
        assert {r.path for r in local_model.received} == {"/v1/chat/completions"}
        assert "authorization" not in local_model.received[0].headers
    assert [r.replay for r in scores.rows if r.scorer == scorer.label] == [6, 6, 6]

"""Rules the screens show, kept in core: targets, effective edits, variant lines, cell
status roll-up, throughput and the first failure of a replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from core.edits import EditSet, ParamEdit, SystemEdit
from core.matrix import MatrixCellRun, cell_statuses, parse_variant_lines, variant_lines
from core.models import LoggedRequest
from core.replay.models import Replay, ReplayResult, ReplaySpec
from core.targets import (
    ReplaySettings,
    base_targets,
    default_concurrency,
    default_target,
    ollama_target,
)
from core.throughput import first_error, replay_speed

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _request(prompt: str = "You judge.", prompt_id: str | None = "judge") -> LoggedRequest:
    return LoggedRequest(
        id="r1", created_at=T0, session_id="s", prompt_id=prompt_id, provider="OPENAI",
        model="gpt-4o-mini", request_url="https://api.openai.com/v1/chat/completions",
        request_body={"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": prompt}, {"role": "user", "content": "hi"}]},
    )


def test_targets_best_first_and_what_the_forms_return() -> None:
    targets = base_targets(base_url="http://127.0.0.1:8000/v1", api_key_env="MY_KEY",
                           environ={"OPENAI_API_KEY": "x", "HELICONE_API_KEY": "y"},
                           local_available=True)
    assert [t.key for t in targets] == ["local", "base_url", "original", "helicone"]
    assert targets[1].label == "http://127.0.0.1:8000/v1, key from $MY_KEY"
    assert targets[2].label == "original providers ($OPENAI_API_KEY)"
    assert default_target(targets, "original").key == "original"
    assert default_target(targets, "ollama").key == "local"  # not offered: the best one
    assert default_concurrency(targets[0], 8) == 1 and default_concurrency(targets[1], 8) == 8
    assert [t.free for t in targets] == [True, True, False, False]
    assert ollama_target("http://127.0.0.1:11434").copy_text() == "http://127.0.0.1:11434"
    bare = base_targets(base_url=None, api_key_env=None, environ={}, local_available=False)
    assert [(t.key, t.label) for t in bare] == [("original", "original providers (no API key set)")]
    settings = ReplaySettings(target=targets[1], mode="isolated", concurrency=4)
    assert settings.target.api_key_env == "MY_KEY" and settings.tools is None
    with pytest.raises(ValidationError):
        ReplaySettings(target=targets[1], concurrency=0)


def test_effective_system_prompt_and_parameter_edits() -> None:
    request = _request()
    edits = EditSet()
    assert edits.effective_system(request) == (None, "")
    edits = edits.set_system(SystemEdit(target="judge", text=" Be strict.", mode="append"))
    assert edits.effective_system(request) == ("You judge. Be strict.", "prompt judge")
    edits = edits.set_system(SystemEdit(scope="request", target="r1", text="Only this."))
    assert edits.effective_system(request) == ("Only this.", "this request")

    edits = edits.set_params("prompt", "judge", ParamEdit(scope="prompt", target="judge",
                                                          temperature=0.2))
    assert edits.params_for("prompt", "judge").temperature == 0.2
    edits = edits.set_params("prompt", "judge", ParamEdit(scope="prompt", target="judge",
                                                          model="m"))
    assert [p.values() for p in edits.params] == [{"model": "m"}]  # replaced, not added
    assert edits.set_params("prompt", "judge", ParamEdit()).params == []  # no values: removed
    assert edits.without_params_at(0).params == []


def test_variant_lines_read_back_as_the_same_edits() -> None:
    edits = (EditSet()
             .set_system(SystemEdit(target="judge", text=" Be strict.\nScore 1-5.", mode="append"))
             .set_params("prompt", "judge", ParamEdit(scope="prompt", target="judge",
                                                      model="gpt-4o", temperature=0.0)))
    lines = variant_lines(edits, "judge")
    assert lines == ["+ Be strict.\\nScore 1-5.", "model:gpt-4o temperature:0.0"]
    assert variant_lines(edits, "other") == []
    appended, params = parse_variant_lines("judge", "\n".join(["", *lines, "  "]))
    assert (appended.label, appended.kind, appended.text) == ("v1", "append", " Be strict.\nScore 1-5.")
    assert (params.label, params.model, params.temperature) == ("v2", "gpt-4o", 0.0)


def test_cell_status_rolls_up_its_runs() -> None:
    runs = [MatrixCellRun(cell_key="a", session_id="s1", status="done"),
            MatrixCellRun(cell_key="a", session_id="s2", status="running"),
            MatrixCellRun(cell_key="b", session_id="s1", status="done"),
            MatrixCellRun(cell_key="c", session_id="s1", status="failed"),
            MatrixCellRun(cell_key="c", session_id="s2", status="done"),
            MatrixCellRun(cell_key="d", session_id="s1")]
    assert cell_statuses(runs) == {"a": "running", "b": "done", "c": "failed", "d": "pending"}


def test_throughput_counts_only_this_run_and_the_first_failure_by_path() -> None:
    replay = Replay(id="x", session_id="s", created_at=T0, status="done", mode="chained",
                    spec=ReplaySpec(session_id="s"), finished_at=T0 + timedelta(seconds=100))
    earlier = ReplayResult(request_id="a", status="done", completion_tokens=1000,
                           finished_at=T0 + timedelta(seconds=5))
    now = ReplayResult(request_id="b", status="failed", completion_tokens=100,
                       finished_at=T0 + timedelta(seconds=95), error="HTTP 500:\n  boom")
    resumed_at = T0 + timedelta(seconds=90)
    assert replay_speed(replay, [earlier, now], resumed_at) == " · 10.0\u00a0s · 10\u00a0tok/s"
    assert replay_speed(replay, [earlier, now]) == " · 100.0\u00a0s · 11\u00a0tok/s"
    unfinished = replay.model_copy(update={"finished_at": None})
    assert replay_speed(unfinished, [now], resumed_at) == ""
    assert first_error([earlier, now], {"b": "turn-2 · judge"}) == "turn-2 · judge: HTTP 500: boom"
    assert first_error([earlier], {}) == ""


def test_remote_listing_loads_only_as_far_as_it_is_read() -> None:
    from core.models import SessionSummary
    from core.remote_sessions import RemoteListing

    def page(first: int, count: int) -> list[SessionSummary]:
        return [SessionSummary(id=f"s{i:03d}", name=f"run {i:03d}", requests=1,
                               started_at=T0 + timedelta(minutes=i),
                               ended_at=T0 + timedelta(minutes=i)) for i in range(first, first + count)]

    listing = RemoteListing("run")
    assert listing.count() == 1 and listing.rows(0, 10) == [] and listing.wants_more
    listing.add_page(page(0, 100))
    assert listing.count() == 101 and not listing.wants_more
    assert [s.id for s in listing.rows(0, 2)] == ["s099", "s098"]  # newest first
    assert not listing.wants_more
    assert [s.id for s in listing.rows(0, 2, "name", descending=False)] == ["s000", "s001"]
    listing.rows(95, 10)
    assert listing.wants_more  # past the loaded rows: the next page is wanted
    listing.add_page(page(90, 20), done=True)  # an overlapping page keeps each session once
    assert len(listing.sessions) == 110 and listing.count() == 110 and listing.done
    listing.sessions[5] = listing.sessions[5].model_copy(update={"cost": 0.5})
    listing.sessions[7] = listing.sessions[7].model_copy(update={"cost": 0.25})
    # Sessions of unknown cost come after known costs, whichever the direction.
    assert [s.id for s in listing.rows(0, 3, "cost")] == ["s005", "s007", "s000"]
    assert [s.id for s in listing.rows(0, 3, "cost", descending=False)][:2] == ["s007", "s005"]


def test_first_frame_needs_no_pydantic() -> None:
    """The modules the first frame needs (app, sessions screen, peek) never load pydantic."""
    import subprocess
    import sys

    code = ("import sys, tui.app, tui.screens.sessions, core.store.peek;"
            " print('pydantic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "False", done.stderr

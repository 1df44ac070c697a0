"""A Responses API follow-up (`previous_response_id`) after an agent branch continues the
*replayed* branch: where the replayed agent answered, earlier or later than recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.replay.engine import RetryPolicy, run_replay
from core.replay.models import ReplaySpec
from core.sources.files import import_files
from core.store import Store
from tests.servers import FakeProvider, default_reply, redirect_transport

PROVIDERS = Path(__file__).resolve().parent / "fixtures" / "providers"
TRIP = "3f6b2a10-7c1d-4e8f-9a2b-5d4c3b2a1f01"
R = "7a1d0c2e-0000-4a01-8b01-00000000000"
FAST = RetryPolicy(max_attempts=1)
ENV = {"OPENAI_API_KEY": "sk-openai-test"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "r.db") as opened:
        assert not import_files(opened, [PROVIDERS / "responses.json"]).errors
        yield opened


def answers_at_once(body: dict) -> str:
    """A replayed agent that never calls a tool."""
    return default_reply(body)


def calls_twice(body: dict) -> str | dict:
    """A replayed agent that checks the weather twice before answering: one round more."""
    outputs = json.dumps(body).count("function_call_output")
    if outputs < 2 and "umbrella" in json.dumps(body):
        city = ["Lisbon", "Porto"][outputs]
        return {"text": "", "tool_calls": [{"id": f"call_w{outputs}", "name": "get_weather",
                                            "arguments": json.dumps({"city": city})}]}
    return default_reply(body)


async def replay_on_responses(store: Store, reply) -> dict:  # type: ignore[no-untyped-def]
    with FakeProvider(reply=reply) as openai:
        transport = redirect_transport({"api.openai.com": openai.port})
        async with httpx.AsyncClient(transport=transport) as client:
            replay = await run_replay(store, ReplaySpec(session_id=TRIP), client=client,
                                      env=ENV, retry=FAST)
    results = store.replay_results(replay.id)
    assert results[R + "3"].status == "done", {k: (r.status, r.error) for k, r in results.items()}
    return results


async def test_follow_up_inlines_the_branch_that_ended_early(store):
    results = await replay_on_responses(store, answers_at_once)
    assert results[R + "2"].status == "not_reached"
    sent = results[R + "3"].sent_body
    # The replayed first turn did not store its response, so the chain is inlined: the
    # question, the replayed answer, then the follow-up; no recorded round of the agent.
    assert "previous_response_id" not in sent
    kinds = [item.get("type", "message") for item in sent["input"]]
    assert kinds == ["message", "message", "message"]
    assert sent["input"][1]["content"][0]["text"] == results[R + "1"].output_text


async def test_follow_up_continues_the_last_round_the_engine_added(store):
    results = await replay_on_responses(store, calls_twice)
    assert results[R + "2+1"].extra and results[R + "2+1"].output_text
    sent = results[R + "3"].sent_body
    assert sent["previous_response_id"] == results[R + "2+1"].response_body["id"]


async def test_chat_target_gets_the_branch_that_ended_early(store):
    with FakeProvider(reply=answers_at_once) as server:
        spec = ReplaySpec(session_id=TRIP, via=server.base_url)
        replay = await run_replay(store, spec, env={}, retry=FAST)
    results = store.replay_results(replay.id)
    assert results[R + "2"].status == "not_reached"
    messages = results[R + "3"].sent_body["messages"]
    assert not any(m.get("tool_calls") or m.get("role") == "tool" for m in messages)
    assert [m["role"] for m in messages if m["role"] != "system"] == ["user", "assistant", "user"]
    assert messages[-2]["content"] == results[R + "1"].output_text

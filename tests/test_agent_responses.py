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


# -- A Responses agent whose rounds continue the stored response (`previous_response_id`):
# each round's input holds only the answers to the previous round's calls. ------------------
STEPS = [("search", "alpha"), ("fetch", "doc1")]
RESULTS = {"search": "results for {}", "fetch": "page {}"}


def stored_agent_reply(body: dict) -> str | dict:
    """Round n+1 after the answer to `call_rn` (Responses `function_call_output` items or chat
    `tool` messages); calls its step, or answers once every step is done."""
    answered = [i["call_id"] for i in body.get("input") or [] if isinstance(i, dict)
                and i.get("type") == "function_call_output"]
    answered += [m["tool_call_id"] for m in body.get("messages") or [] if m.get("role") == "tool"]
    n = int(answered[-1].removeprefix("call_r")) + 1 if answered else 0
    if n < len(STEPS):
        name, arg = STEPS[n]
        return {"text": "", "tool_calls": [{"id": f"call_r{n}", "name": name,
                                            "arguments": json.dumps({"arg": arg})}]}
    return "Answer: done"


def stored_agent_session() -> list:
    from datetime import UTC, datetime, timedelta

    from core.models import LoggedRequest
    from tests.servers import _responses_object

    tools = [{"type": "function", "name": n, "parameters": {"type": "object"}} for n in RESULTS]
    first = {"model": "gpt-4.1", "instructions": "You research.", "tools": tools,
             "input": [{"role": "user", "content": "What is the capital of the moon?"}]}
    bodies, responses = [first], []
    for n, (name, arg) in enumerate(STEPS):
        call = {"id": f"call_rec{n}", "name": name, "arguments": json.dumps({"arg": arg})}
        responses.append(_responses_object(f"resp_rec{n}", "gpt-4.1", "", [call],
                                           f"resp_rec{n - 1}" if n else None))
        bodies.append({"model": "gpt-4.1", "instructions": "You research.", "tools": tools,
                       "previous_response_id": f"resp_rec{n}",
                       "input": [{"type": "function_call_output", "call_id": f"call_rec{n}",
                                  "output": RESULTS[name].format(arg)}]})
    responses.append(_responses_object("resp_rec2", "gpt-4.1", "Answer: done", [], "resp_rec1"))
    at = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
    return [LoggedRequest(id=f"q{n + 1}", created_at=at + timedelta(seconds=n),
                          session_id="s-stored", session_path="/agent", provider="openai",
                          model="gpt-4.1", target_url="https://api.openai.com/v1/responses",
                          request_body=body, response_body=response, status=200)
            for n, (body, response) in enumerate(zip(bodies, responses, strict=True))]


async def test_rounds_continuing_stored_responses_answer_the_replayed_calls(tmp_path):
    with Store(tmp_path / "s.db") as store, FakeProvider(reply=stored_agent_reply) as openai:
        store.upsert_requests(stored_agent_session())
        transport = redirect_transport({"api.openai.com": openai.port})
        async with httpx.AsyncClient(transport=transport) as client:
            replay = await run_replay(store, ReplaySpec(session_id="s-stored"), client=client,
                                      env=ENV, retry=FAST)
        results = store.replay_results(replay.id)
    assert replay.status == "done", {k: (r.status, r.error) for k, r in results.items()}
    for n in (1, 2):  # each round continues the replayed response and answers its calls
        sent = results[f"q{n + 1}"].sent_body
        assert sent["previous_response_id"] == results[f"q{n}"].response_body["id"]
        name, arg = STEPS[n - 1]
        assert sent["input"] == [{"type": "function_call_output", "call_id": f"call_r{n - 1}",
                                  "output": RESULTS[name].format(arg)}]
        assert [t.source for t in results[f"q{n + 1}"].tool_results] == ["recorded"]
    assert results["q3"].output_text == "Answer: done"


async def test_rounds_continuing_stored_responses_inline_the_replayed_turns(tmp_path):
    with Store(tmp_path / "s.db") as store, FakeProvider(reply=stored_agent_reply) as server:
        store.upsert_requests(stored_agent_session())
        spec = ReplaySpec(session_id="s-stored", via=server.base_url)
        replay = await run_replay(store, spec, env={}, retry=FAST)
        results = store.replay_results(replay.id)
    assert replay.status == "done", {k: (r.status, r.error) for k, r in results.items()}
    messages = results["q3"].sent_body["messages"]
    calls = [c["id"] for m in messages for c in m.get("tool_calls") or []]
    answers = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert calls == answers == ["call_r0", "call_r1"]  # the replayed ids, never call_rec*
    assert [m["content"] for m in messages if m["role"] == "tool"] == [
        "results for alpha", "page doc1"]

"""The replay engine against real loopback servers speaking OpenAI and Anthropic."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from core.edits import EditSet, SystemEdit
from core.replay.engine import RetryPolicy, replay_events, run_replay
from core.replay.models import ReplaySpec
from core.store import Store
from tests.servers import FakeProvider, default_reply, recorded_request

FAST = RetryPolicy(max_attempts=4, base_s=0.01, cap_s=0.05)
DEBATER = "You are a debater."
GENIUS = "You are a genius in this field."
JUDGE = "You are an impartial judge."


def _msgs(system: str, *turns: tuple[str, str]) -> list[dict]:
    return [{"role": "system", "content": system}] + [
        {"role": role, "content": text} for role, text in turns
    ]


def debate_session(store: Store, *, stream: bool = False) -> dict[str, str]:
    """Four requests: argue, judge (quotes the argument), counter (threads it), unrelated."""
    arg_body = {"model": "gpt-4o-mini", "messages": _msgs(DEBATER, ("user", "Argue: climate."))}
    arg = default_reply(arg_body)
    judge_body = {"model": "gpt-4o-mini", "messages": _msgs(
        JUDGE, ("user", f"Score this argument 1-10:\n\n\"{arg}\"\n\nBe fair."))}
    counter_body = {"model": "gpt-4o-mini", "stream": stream, "messages": _msgs(
        DEBATER, ("user", "Argue: climate."), ("assistant", arg), ("user", "Go on, rebut."))}
    other_body = {"model": "gpt-4o-mini", "messages": _msgs("Other.", ("user", "Unrelated q."))}
    requests = [
        recorded_request("r1", arg_body, arg, prompt_id="assistant-argument", at=0),
        recorded_request("r2", judge_body, default_reply(judge_body),
                         prompt_id="argument-evaluation", at=1),
        recorded_request("r3", counter_body, default_reply(counter_body),
                         prompt_id="assistant-argument", at=2),
        recorded_request("r4", other_body, default_reply(other_body), at=3),
    ]
    store.upsert_requests(requests)
    return {"arg": arg}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "replay.db") as s:
        yield s


@pytest.fixture
def server():
    with FakeProvider() as s:
        yield s


def genius_spec(server: FakeProvider, **kw) -> ReplaySpec:
    edits = EditSet(system=[SystemEdit(target="assistant-argument", text=GENIUS)])
    return ReplaySpec(session_id="s1", edits=edits, via=server.base_url, **kw)


def sent(server: FakeProvider) -> dict[str, dict]:
    """Received bodies keyed by the recorded request they came from (its last user text)."""
    keys = {"Argue: climate.": "r1", "Score": "r2", "Go on, rebut.": "r3", "Unrelated q.": "r4"}
    result = {}
    for body in server.bodies():
        last = body["messages"][-1]["content"]
        for prefix, rid in keys.items():
            if last.startswith(prefix):
                result[rid] = body
    return result


async def test_chained_substitutes_replayed_output(store, server):
    recorded = debate_session(store)
    events = []
    replay = await run_replay(store, genius_spec(server), on_event=events.append, retry=FAST)
    assert replay.status == "done"
    results = store.replay_results(replay.id)
    new_arg = f"reply({GENIUS}): Argue: climate."
    assert results["r1"].output_text == new_arg
    assert results["r1"].similarity is not None and results["r1"].similarity < 1
    assert results["r2"].depends_on == ["r1"] and results["r3"].depends_on == ["r1"]
    assert results["r4"].depends_on == []
    bodies = sent(server)
    # The judge's quoted argument and the counter's assistant turn carry the new output.
    assert new_arg in bodies["r2"]["messages"][-1]["content"]
    assert recorded["arg"] not in json.dumps(bodies["r2"])
    assert bodies["r3"]["messages"][2] == {"role": "assistant", "content": new_arg}
    assert bodies["r3"]["messages"][0]["content"] == GENIUS
    assert bodies["r2"]["messages"][0]["content"] == JUDGE
    assert results["r3"].sent_body == bodies["r3"]
    # r2 and r3 were sent only after r1 finished.
    order = [b["messages"][-1]["content"][:5] for b in server.bodies()]
    assert order.index("Argue") < order.index("Score") and order.index("Argue") < order.index(
        "Go on")
    kinds = [e.kind for e in events]
    assert kinds.count("queued") == 4 and kinds.count("finished") == 4
    assert kinds[-1] == "replay_finished"
    # Recorded bodies are untouched.
    assert store.get_request("r3").request_body["messages"][2]["content"] == recorded["arg"]


async def test_isolated_sends_recorded_history(store, server):
    recorded = debate_session(store)
    replay = await run_replay(store, genius_spec(server, mode="isolated"), retry=FAST)
    results = store.replay_results(replay.id)
    assert all(r.depends_on == [] for r in results.values())
    bodies = sent(server)
    assert recorded["arg"] in bodies["r2"]["messages"][-1]["content"]
    assert bodies["r3"]["messages"][2]["content"] == recorded["arg"]
    assert bodies["r3"]["messages"][0]["content"] == GENIUS


async def test_streaming_is_replayed_as_a_stream(store):
    with FakeProvider(chunk_delay=0.01) as server:
        debate_session(store, stream=True)
        replay = await run_replay(store, genius_spec(server), retry=FAST)
        results = store.replay_results(replay.id)
        r3 = results["r3"]
        assert r3.sent_body["stream"] is True
        assert r3.output_text.startswith(f"reply({GENIUS}): Go on, rebut.")
        assert r3.ttft_ms is not None and r3.latency_ms > r3.ttft_ms
        assert r3.completion_tokens is not None
        assert results["r1"].ttft_ms is not None  # non-streamed: ttft = full latency


async def test_anthropic_stream_and_tool_calls(store):
    def reply(body):
        if body.get("tools"):
            return {"text": "", "tool_calls": [{"id": "tu_9", "name": "lookup",
                                                "arguments": '{"q": "new"}'}]}
        return default_reply(body)

    tool_body = {"model": "claude", "max_tokens": 100, "system": "Use tools.", "stream": True,
                 "tools": [{"name": "search"}], "messages": [{"role": "user", "content": "Find"}]}
    after_body = {"model": "claude", "max_tokens": 100, "system": "Use tools.", "messages": [
        {"role": "user", "content": "Find"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "tu_1", "name": "search",
                                           "input": {"q": "old"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1",
                                      "content": "recorded result"}]}]}
    with FakeProvider(reply=reply) as server:
        # Sent to the recorded Anthropic endpoint (here on loopback, allowed by name).
        recorded = [
            recorded_request("t1", tool_body, {"tool_calls": [
                {"id": "tu_1", "name": "search", "arguments": '{"q": "old"}'}]}, anthropic=True),
            recorded_request("t2", after_body, "The answer from the recorded result.",
                             anthropic=True, at=1),
        ]
        store.upsert_requests([
            r.model_copy(update={"target_url": server.base_url + "/v1/messages"})
            for r in recorded
        ])
        host = server.base_url.split("://")[1]
        spec = ReplaySpec(session_id="s1", allow_hosts=[host])
        replay = await run_replay(store, spec, retry=FAST)
        results = store.replay_results(replay.id)
        assert server.received[0].path == "/v1/messages"
        assert server.received[0].headers["anthropic-version"]
        assert [c.name for c in results["t1"].tool_calls] == ["lookup"]
        assert json.loads(results["t1"].tool_calls[0].arguments) == {"q": "new"}
        t2 = results["t2"]
        # The conversation is rebuilt from the replayed turn: the recorded call and its
        # result are gone, the new call got the default rule's error result.
        assert t2.depends_on == ["t1"] and not t2.diverged and t2.status == "done"
        assert results["t1"].tool_calls_changed
        assert [(r.name, r.source) for r in t2.tool_results] == [("lookup", "error")]
        assert "recorded result" not in json.dumps(t2.sent_body)
        assert t2.sent_body["messages"][1]["content"][0]["name"] == "lookup"
        assert replay.status == "done"


async def test_retries_429_500_and_dropped_connections(store, server):
    debate_session(store)
    server.fail_next(2, status=429, retry_after="0")
    server.fail_next(1, status=500)
    server.drop_next(1)
    events = []
    replay = await run_replay(store, genius_spec(server, concurrency=1), retry=FAST,
                              on_event=events.append)
    assert replay.status == "done"
    results = store.replay_results(replay.id)
    assert results["r1"].attempts == 5 or sum(r.attempts for r in results.values()) == 8
    assert [e.kind for e in events].count("retried") == 4
    assert len(server.received) == 8


async def test_failure_blocks_dependents_and_the_rest_goes_on(store, server):
    debate_session(store)
    server.fail_if(lambda b: "Argue" in json.dumps(b), status=503,
                   body={"error": {"message": "overloaded"}})
    replay = await run_replay(store, genius_spec(server, concurrency=1), retry=FAST)
    results = store.replay_results(replay.id)
    assert results["r1"].status == "failed" and results["r1"].http_status == 503
    assert "overloaded" in results["r1"].error and results["r1"].attempts == 4
    assert results["r2"].status == "blocked" and results["r3"].status == "blocked"
    assert results["r4"].status == "done"
    assert replay.status == "failed" and replay.failed == 3  # failed + blocked


async def test_client_error_is_not_retried(store, server):
    debate_session(store)
    server.fail_next(1, status=400, body={"error": {"message": "bad request"}})
    replay = await run_replay(store, genius_spec(server, concurrency=1), retry=FAST)
    r1 = store.replay_results(replay.id)["r1"]
    assert r1.status == "failed" and r1.attempts == 1 and r1.http_status == 400


async def test_cancellation_keeps_finished_and_resume_sends_only_missing(store):
    debate_session(store)
    with FakeProvider(latency=0.4) as server:
        spec = genius_spec(server)
        events = []
        task = asyncio.create_task(run_replay(store, spec, on_event=events.append, retry=FAST))
        while not any(e.kind == "finished" for e in events):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # r2, r3 are in flight now
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        replay_id = events[0].replay_id
        stored = store.get_replay(replay_id)
        assert stored.status == "cancelled"
        results = store.replay_results(replay_id)
        finished = {k for k, r in results.items() if r.status == "done"}
        assert "r1" in finished and "r3" not in finished
        assert results["r3"].status == "cancelled"
        before = len(server.received)
        resumed = await run_replay(store, spec, resume_id=replay_id, retry=FAST,
                                   target=spec.target())
        assert resumed.id == replay_id and resumed.status == "done"
        resent = [b["messages"][-1]["content"][:5] for b in server.bodies()[before:]]
        assert "Argue" not in resent and len(resent) == 4 - len(finished)
        assert set(store.replay_results(replay_id)) == {"r1", "r2", "r3", "r4"}


async def test_event_iterator(store, server):
    debate_session(store)
    kinds = [e.kind async for e in replay_events(store, genius_spec(server), retry=FAST)]
    assert kinds[0] == "queued" and kinds[-1] == "replay_finished"


async def test_concurrency_is_bounded(store):
    bodies = [recorded_request(f"q{i}", {"model": "m", "messages": _msgs("s", ("user", f"n{i}"))},
                               f"out {i}", at=i) for i in range(12)]
    store.upsert_requests(bodies)
    with FakeProvider(latency=0.1) as server:
        spec = ReplaySpec(session_id="s1", via=server.base_url, concurrency=3)
        await run_replay(store, spec, retry=FAST)
        assert server.max_active == 3


class Redirect(httpx.AsyncBaseTransport):
    """Sends every host to a loopback server while the engine believes it talks to `host`."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        port = self.ports[request.url.host]
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
        return await self.inner.handle_async_request(request)


ENV = {"OPENAI_API_KEY": "sk-openai-SECRET-1", "ANTHROPIC_API_KEY": "sk-ant-SECRET-2",
       "HELICONE_API_KEY": "sk-helicone-SECRET-3", "MY_KEY": "custom-SECRET-4"}


async def test_keys_reach_only_their_own_hosts(store, tmp_path):
    body = {"model": "gpt-4o-mini", "messages": _msgs("s", ("user", "hello there"))}
    a_body = {"model": "claude", "max_tokens": 10, "system": "s",
              "messages": [{"role": "user", "content": "hi claude"}]}
    evil = recorded_request("e1", body, "x", at=2)
    evil.target_url = "https://evil.example/v1/chat/completions"
    store.upsert_requests([recorded_request("o1", body, "x"),
                           recorded_request("a1", a_body, "y", anthropic=True, at=1), evil])
    with FakeProvider() as openai, FakeProvider() as anthropic, FakeProvider() as other:
        ports = {"api.openai.com": openai.port, "api.anthropic.com": anthropic.port,
                 "evil.example": other.port, "oai.helicone.ai": openai.port,
                 "anthropic.helicone.ai": anthropic.port}
        async with httpx.AsyncClient(transport=Redirect(ports)) as client:
            # Without --allow-host the unknown host is refused, never contacted.
            replay = await run_replay(store, ReplaySpec(session_id="s1"), client=client, env=ENV,
                                      retry=FAST)
            results = store.replay_results(replay.id)
            assert results["e1"].status == "failed" and "allow-host" in results["e1"].error
            assert other.received == []
            assert openai.received[0].headers["authorization"] == "Bearer sk-openai-SECRET-1"
            assert "helicone-auth" not in openai.received[0].headers
            assert anthropic.received[0].headers["x-api-key"] == "sk-ant-SECRET-2"
            assert "authorization" not in anthropic.received[0].headers
            # Allowed explicitly: sent, but with no key at all.
            await run_replay(store, ReplaySpec(session_id="s1", allow_hosts=["evil.example"]),
                             client=client, env=ENV, retry=FAST)
            assert len(other.received) == 1
            headers = other.received[0].headers
            assert not {"authorization", "x-api-key", "helicone-auth"} & set(headers)
            assert "SECRET" not in json.dumps(headers)
            # Through Helicone: provider key + Helicone-Auth + the session headers.
            openai.received.clear()
            replay = await run_replay(store, ReplaySpec(session_id="s1", via="helicone"),
                                      client=client, env=ENV, retry=FAST)
            h = openai.received[0].headers
            assert h["helicone-auth"] == "Bearer sk-helicone-SECRET-3"
            assert h["authorization"] == "Bearer sk-openai-SECRET-1"
            assert h["helicone-session-id"] == replay.id
            assert h["helicone-property-replay-of"] == "s1"
            assert h["helicone-session-name"] == "Debate"
            assert "helicone-auth" in anthropic.received[-1].headers
            assert anthropic.received[-1].headers["x-api-key"] == "sk-ant-SECRET-2"
    # A custom base URL gets only the key named for it.
    with FakeProvider() as custom:
        spec = ReplaySpec(session_id="s1", via=custom.base_url + "/v1", api_key_env="MY_KEY",
                          model="llama3")
        await run_replay(store, spec, env=ENV, retry=FAST)
        # OpenAI-compatible endpoints get Anthropic conversations as chat completions.
        assert {r.path for r in custom.received} == {"/v1/chat/completions"}
        for r in custom.received:
            assert r.headers["authorization"] == "Bearer custom-SECRET-4"
            assert r.body["model"] == "llama3"
    store.close()
    for path in tmp_path.glob("replay.db*"):
        assert b"SECRET" not in path.read_bytes()


async def test_error_bodies_echoing_a_key_are_redacted(store, server):
    debate_session(store)
    server.fail_next(1, status=401, body={"error": {"message": "bad key custom-SECRET-4"}})
    spec = genius_spec(server, api_key_env="MY_KEY", concurrency=1)
    replay = await run_replay(store, spec, env=ENV, retry=FAST)
    r1 = store.replay_results(replay.id)["r1"]
    assert r1.status == "failed" and "SECRET" not in r1.error
    assert "SECRET" not in json.dumps(r1.response_body)

"""Replaying Responses API, Gemini, Azure and Anthropic-thinking sessions against loopback
servers speaking each provider's wire format, streaming and not, with every header logged."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from core.edits import EditSet, SystemEdit
from core.replay.engine import RetryPolicy, run_replay
from core.replay.models import ReplaySpec
from core.sources.files import import_files
from core.store import Store
from tests.servers import FakeProvider, default_reply, redirect_transport, system_and_last_user

PROVIDERS = Path(__file__).resolve().parent / "fixtures" / "providers"
TRIP = "3f6b2a10-7c1d-4e8f-9a2b-5d4c3b2a1f01"
FLIGHTS = "9e2c4b61-1a2b-4c3d-8e9f-0a1b2c3d4e02"
STOCKS = "c4d5e6f7-2b3c-4d5e-9f0a-1b2c3d4e5f03"
SUPPORT = "a2b3c4d5-1111-4e5f-8a9b-0c1d2e3f4a04"
R = "7a1d0c2e-0000-4a01-8b01-00000000000"
G = "9e2c4b61-0000-4c3d-8e9f-00000000000"
FAST = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02)
ENV = {
    "OPENAI_API_KEY": "sk-openai-SECRET-1", "ANTHROPIC_API_KEY": "sk-ant-SECRET-2",
    "GEMINI_API_KEY": "gemini-SECRET-3", "AZURE_OPENAI_API_KEY": "azure-SECRET-4",
    "HELICONE_API_KEY": "sk-helicone-SECRET-5",
}
WEATHER = {"name": "get_weather", "arguments": '{"city":"Lisbon"}'}
FLIGHT = {"name": "find_flights",
          "arguments": '{"origin": "LIS", "destination": "BER", "date": "2025-05-02"}'}


def agent_reply(body: dict) -> str | dict:
    """Asks for the same tools the recorded agents asked for, then answers from the prompt."""
    raw = json.dumps(body)
    answered = any(k in raw for k in ("function_call_output", '"role": "tool"', "functionResponse"))
    _, user = system_and_last_user(body)
    if not answered and "umbrella" in user:
        return {"text": "", "tool_calls": [{"id": "call_new1", **WEATHER}]}
    if not answered and "Lisbon to Berlin" in user:
        return {"text": "", "tool_calls": [{"id": "call_new2", **FLIGHT}]}
    return default_reply(body)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "replay.db") as opened:
        counts = import_files(opened, sorted(PROVIDERS.glob("*.json")))
        assert not counts.errors
        yield opened


def by_last_user(server: FakeProvider) -> dict[str, dict]:
    return {system_and_last_user(r.body)[1][:30]: r.body for r in server.received}


async def test_responses_chained_threads_replayed_ids_to_the_responses_api(store, tmp_path):
    edits = EditSet(system=[SystemEdit(target="trip-agent", text="You are a careful planner.")])
    with FakeProvider(reply=agent_reply) as openai, FakeProvider() as google:
        ports = {"api.openai.com": openai.port, "generativelanguage.googleapis.com": google.port}
        async with httpx.AsyncClient(transport=redirect_transport(ports)) as client:
            replay = await run_replay(store, ReplaySpec(session_id=TRIP, edits=edits),
                                      client=client, env=ENV, retry=FAST)
        results = store.replay_results(replay.id)
        assert replay.status == "done", {k: (r.status, r.error) for k, r in results.items()}
        assert {r.path for r in openai.received} == {"/v1/responses"}
        assert google.received == []
        for received in openai.received:
            assert received.headers["authorization"] == "Bearer sk-openai-SECRET-1"
            assert "x-goog-api-key" not in received.headers
        # The first turn asked for the same tool; the answer carries the edit.
        assert results[R + "1"].tool_calls[0].name == "get_weather"
        assert results[R + "2"].output_text.startswith("reply(You are a careful planner.)")
        # The streamed follow-up continues the *replayed* second turn, not the recorded id.
        third = results[R + "3"]
        replayed_second = results[R + "2"].response_body["id"]
        assert third.sent_body["previous_response_id"] == replayed_second
        assert third.sent_body["stream"] is True and third.ttft_ms is not None
        assert third.depends_on == [R + "2"]
        assert third.output_text == "reply(You are a careful planner.): And what about tomorrow morning?"
        # The stored prompt is sent as recorded: only OpenAI resolves it.
        assert results[R + "4"].sent_body["prompt"]["id"] == "pmpt_68a1b2c3d4e5f60718293a4b"
    store.close()
    for path in tmp_path.glob("replay.db*"):
        assert b"SECRET" not in path.read_bytes()


async def test_responses_isolated_inlines_the_recorded_chain(store):
    with FakeProvider(reply=agent_reply) as openai:
        async with httpx.AsyncClient(transport=redirect_transport({"api.openai.com": openai.port})
                                     ) as client:
            replay = await run_replay(store, ReplaySpec(session_id=TRIP, mode="isolated"),
                                      client=client, env=ENV, retry=FAST)
    third = store.replay_results(replay.id)[R + "3"]
    assert third.status == "done"
    sent = third.sent_body
    assert "previous_response_id" not in sent
    kinds = [item.get("type", "message") for item in sent["input"]]
    # second turn's input (user, reasoning, call, output), its recorded output, then the new turn
    assert kinds == ["message", "reasoning", "function_call", "function_call_output",
                     "reasoning", "message", "message"]
    assert sent["input"][5]["content"][0]["text"].startswith("Yes, pack an umbrella")
    assert sent["input"][4]["encrypted_content"] == "gAAAAABn8aK0-encrypted-reasoning-blob-2"


async def test_responses_to_a_chat_target_translates_and_inlines_replayed_turns(store):
    with FakeProvider(reply=agent_reply) as local:
        replay = await run_replay(
            store, ReplaySpec(session_id=TRIP, via=local.base_url, stream=False),
            env=ENV, retry=FAST,
        )
        results = store.replay_results(replay.id)
        assert {r.path for r in local.received} == {"/v1/chat/completions"}
        assert all("authorization" not in r.headers for r in local.received)
    third = results[R + "3"].sent_body
    roles = [m["role"] for m in third["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    # The replayed (not the recorded) answer of the second turn is in the history.
    assert third["messages"][4]["content"] == results[R + "2"].output_text
    assert results[R + "4"].status == "skipped"
    assert "stored OpenAI prompt pmpt_68a1b2c3d4e5f60718293a4b version 3" in results[R + "4"].error


async def test_gemini_replays_to_google_streaming_and_not_with_its_key_only(store):
    edits = EditSet(system=[SystemEdit(target="flight-assistant", text="You book flights.")])
    spec = ReplaySpec(session_id=FLIGHTS, edits=edits, model="gemini-2.5-flash")
    with FakeProvider(reply=agent_reply) as google, FakeProvider() as openai:
        ports = {"generativelanguage.googleapis.com": google.port,
                 "us-central1-aiplatform.googleapis.com": google.port,
                 "api.openai.com": openai.port}
        async with httpx.AsyncClient(transport=redirect_transport(ports)) as client:
            replay = await run_replay(store, spec, client=client, env=ENV, retry=FAST)
        results = store.replay_results(replay.id)
        assert replay.status == "done", {k: (r.status, r.error) for k, r in results.items()}
        assert openai.received == []
        paths = sorted(r.path for r in google.received)
        assert paths == [
            "/v1/projects/trip-demo/locations/us-central1/publishers/google/models/"
            "gemini-2.5-flash:generateContent",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        ]
        for received in google.received:
            assert received.headers["x-goog-api-key"] == "gemini-SECRET-3"
            assert "authorization" not in received.headers
    first, second = results[G + "1"], results[G + "2"]
    assert first.tool_calls[0].name == "find_flights" and not second.diverged
    assert second.ttft_ms is not None  # streamed over SSE, folded back
    assert second.output_text.startswith("reply(You book flights.)")
    assert second.sent_body["systemInstruction"] == {"parts": [{"text": "You book flights."}]}


async def test_gemini_to_a_chat_target_keeps_model_stream_and_tool_pairs(store):
    with FakeProvider(reply=agent_reply) as local:
        replay = await run_replay(store, ReplaySpec(session_id=FLIGHTS, via=local.base_url),
                                  env=ENV, retry=FAST)
        results = store.replay_results(replay.id)
        assert replay.status == "done"
        assert all("x-goog-api-key" not in r.headers for r in local.received)
    second = results[G + "2"].sent_body
    assert second["model"] == "gemini-2.0-flash" and second["stream"] is True
    call = second["messages"][2]["tool_calls"][0]
    assert second["messages"][3] == {"role": "tool", "tool_call_id": call["id"],
                                     "content": json.dumps({"flights": [
                                         {"flight": "TP 550", "departs": "07:05",
                                          "arrives": "11:35", "price_eur": 129}]})}


async def test_azure_key_only_to_the_host_the_user_named(store):
    with FakeProvider() as azure:
        ports = {"contoso-eastus.openai.azure.com": azure.port}
        async with httpx.AsyncClient(transport=redirect_transport(ports)) as client:
            # The recorded row names the host; that alone earns neither the send nor the key.
            replay = await run_replay(store, ReplaySpec(session_id=SUPPORT), client=client,
                                      env=ENV, retry=FAST)
            (result,) = store.replay_results(replay.id).values()
            assert result.status == "failed" and "AZURE_OPENAI_ENDPOINT" in result.error
            assert azure.received == []
            named = {**ENV, "AZURE_OPENAI_ENDPOINT": "https://contoso-eastus.openai.azure.com/"}
            replay = await run_replay(store, ReplaySpec(session_id=SUPPORT), client=client,
                                      env=named, retry=FAST)
        (result,) = store.replay_results(replay.id).values()
        assert result.status == "done", result.error
        (received,) = azure.received
        assert received.path == "/openai/deployments/support-gpt4o/chat/completions"
        assert received.headers["api-key"] == "azure-SECRET-4"
        assert not {"authorization", "x-goog-api-key", "x-api-key"} & set(received.headers)
        assert "model" not in received.body  # Azure picks the deployment from the path
    with FakeProvider() as local:
        replay = await run_replay(store, ReplaySpec(session_id=SUPPORT, via=local.base_url),
                                  env=named, retry=FAST)
        (received,) = local.received
        assert received.body["model"] == "gpt-4o"  # from the logged row
        assert "api-key" not in received.headers


async def test_anthropic_thinking_blocks_are_kept_when_replaying_to_anthropic(store):
    with FakeProvider(reply=lambda body: "NVDA is up.") as anthropic:
        ports = {"api.anthropic.com": anthropic.port}
        async with httpx.AsyncClient(transport=redirect_transport(ports)) as client:
            replay = await run_replay(store, ReplaySpec(session_id=STOCKS, mode="isolated"),
                                      client=client, env=ENV, retry=FAST)
    results = store.replay_results(replay.id)
    assert {r.status for r in results.values()} == {"done"}
    sent = results["c4d5e6f7-0000-4d5e-9f0a-000000000002"].sent_body
    kinds = [block["type"] for block in sent["messages"][1]["content"]]
    assert kinds == ["thinking", "redacted_thinking", "text", "tool_use"]
    # similarity is measured against the real answer, not the JSON string Helicone stored
    assert results["c4d5e6f7-0000-4d5e-9f0a-000000000002"].similarity is not None


def test_google_and_azure_keys_are_bound_to_their_hosts() -> None:
    from core.replay.transport import credentials_for

    env = {**ENV, "AZURE_OPENAI_ENDPOINT": "https://contoso-eastus.openai.azure.com"}
    google = "https://generativelanguage.googleapis.com/v1beta/models/x:generateContent"
    assert credentials_for(google, env) == {"x-goog-api-key": "gemini-SECRET-3"}
    vertex = "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/l/x"
    assert credentials_for(vertex, env) == {"x-goog-api-key": "gemini-SECRET-3"}
    assert credentials_for(vertex, {"GOOGLE_API_KEY": "g"}) == {"x-goog-api-key": "g"}
    for elsewhere in ("http://generativelanguage.googleapis.com/v1beta/models/x",
                      "https://generativelanguage.googleapis.com.evil.example/v1",
                      "https://googleapis.com.evil.example/aiplatform.googleapis.com",
                      "https://other-eastus.openai.azure.com/openai/deployments/d",
                      "https://contoso-eastus.openai.azure.com.evil.example/openai"):
        assert credentials_for(elsewhere, env) == {}, elsewhere
    azure = "https://contoso-eastus.openai.azure.com/openai/deployments/d/chat/completions"
    assert credentials_for(azure, env) == {"api-key": "azure-SECRET-4"}
    assert credentials_for(azure, ENV) == {}  # not named: the row alone earns nothing
    assert credentials_for(azure, ENV, allow_hosts=["contoso-eastus.openai.azure.com"]) == {
        "api-key": "azure-SECRET-4"}


async def test_pull_brings_requests_without_a_session_when_asked(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from core.sources.helicone import HeliconeClient, HeliconeConfig, pull
    from tests.helicone_server import FakeHelicone, make_row

    with FakeHelicone() as fake, Store(tmp_path / "pull.db") as store:
        fake.add_session("with-session", 3)
        start = datetime.now(UTC) - timedelta(hours=1)
        lone_ids = []
        for index in range(2):
            row, body = make_row("unused", index, created=start + timedelta(seconds=index),
                                 s3=index == 1)
            for key in ("request_properties", "properties"):
                row[key] = {"environment": "prod"}
            fake.add_row(row, body)
            lone_ids.append(row["request_id"])
        config = HeliconeConfig.from_env(fake.api_key, base_url=fake.url, retry_base_s=0.01)
        since = datetime.now(UTC) - timedelta(days=1)
        async with HeliconeClient(config) as client:
            plain = await pull(store, client, since=since)
        assert (plain.sessions, plain.requests, plain.sessionless) == (1, 3, 0)
        async with HeliconeClient(config) as client:
            report = await pull(store, client, since=since, sessionless=True)
        assert report.errors == [] and report.sessionless == 2 and report.added == 2
        lone = [s for s in store.list_sessions() if s.sessionless]
        assert sorted(s.id for s in lone) == sorted(lone_ids)
        s3_row = store.get_request(lone_ids[1])
        assert s3_row is not None and s3_row.body_state == "full"  # signed body fetched
        assert len(store.list_sessions()) == 3

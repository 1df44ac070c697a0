"""The `llm` tool rule in every recorded wire format: the replay target plays the tool in the
session's own format (Responses API, Gemini), or translated for a chat target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.replay.engine import RetryPolicy, run_replay
from core.replay.environment import ToolSettings
from core.replay.models import ReplaySpec
from core.sources.files import import_files
from core.store import Store
from tests.servers import FakeProvider, default_reply, redirect_transport, system_and_last_user

PROVIDERS = Path(__file__).resolve().parent / "fixtures" / "providers"
TRIP = "3f6b2a10-7c1d-4e8f-9a2b-5d4c3b2a1f01"  # Responses API: get_weather, then the answer
FLIGHTS = "9e2c4b61-1a2b-4c3d-8e9f-0a1b2c3d4e02"  # Gemini: find_flights, then the answer
R = "7a1d0c2e-0000-4a01-8b01-00000000000"
G = "9e2c4b61-0000-4c3d-8e9f-00000000000"
ENV = {"OPENAI_API_KEY": "sk-openai-test", "GEMINI_API_KEY": "gemini-test"}
LLM = ToolSettings.parse("llm")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "f.db") as opened:
        files = [PROVIDERS / "responses.json", PROVIDERS / "gemini.json"]
        assert not import_files(opened, files).errors
        yield opened


def reply(body: dict) -> str | dict:
    """Calls the session's tool with arguments the recording never saw, then answers; plays
    the tool when asked to simulate it."""
    system, user = system_and_last_user(body)
    if system.startswith("You simulate the tool"):
        return "SIMULATED " + user.splitlines()[0]
    raw = json.dumps(body)
    if any(k in raw for k in ("function_call_output", '"role": "tool"', "functionResponse")):
        return default_reply(body)
    if "umbrella" in user:
        return {"text": "", "tool_calls": [{"id": "call_x", "name": "get_weather",
                                            "arguments": '{"city": "Oslo"}'}]}
    if "Lisbon to Berlin" in user:
        return {"text": "", "tool_calls": [{"id": "call_y", "name": "find_flights", "arguments":
                                            '{"origin": "LIS", "destination": "OSL"}'}]}
    return default_reply(body)


async def replay(store: Store, session: str, server: FakeProvider, **spec: object) -> dict:
    ports = {"api.openai.com": server.port, "generativelanguage.googleapis.com": server.port,
             "127.0.0.1": server.port}
    async with httpx.AsyncClient(transport=redirect_transport(ports)) as client:
        done = await run_replay(store, ReplaySpec(session_id=session, tools=LLM, **spec),
                                client=client, env=ENV, retry=RetryPolicy(max_attempts=1))
    return store.replay_results(done.id)


@pytest.mark.parametrize("session,follow,path", [
    (TRIP, R + "2", "/v1/responses"),
    (FLIGHTS, G + "2", "/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
])
async def test_llm_rule_simulates_in_the_sessions_own_format(store, session, follow, path):
    with FakeProvider(reply=reply) as server:
        results = await replay(store, session, server)
        simulations = [r for r in server.received
                       if system_and_last_user(r.body)[0].startswith("You simulate")]
    [result] = results[follow].tool_results
    assert (result.source, result.is_error) == ("llm", False), result.content
    assert result.content.startswith("SIMULATED arguments: {")
    assert [r.path for r in simulations] == [path]
    assert results[follow].status == "done"


async def test_llm_rule_on_a_chat_target_is_translated(store):
    with FakeProvider(reply=reply) as server:
        results = await replay(store, FLIGHTS, server, via=server.base_url)
        simulations = [r for r in server.received
                       if system_and_last_user(r.body)[0].startswith("You simulate")]
    [result] = results[G + "2"].tool_results
    assert (result.source, result.is_error) == ("llm", False), result.content
    assert [r.path for r in simulations] == ["/v1/chat/completions"]
    assert simulations[0].body["model"] == "gemini-2.0-flash"

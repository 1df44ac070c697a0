"""Imported calls whose wire format cannot be decided: marked so, shown so, and sent in the
format chosen at replay time (or refused with a clear reason when that format cannot carry
them)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from core.replay.engine import RetryPolicy, run_replay
from core.replay.models import ReplaySpec
from core.sources.calls import FormatChoiceError, decide_formats, undecided_note
from core.sources.importers import import_paths
from core.store import Store
from tests.servers import FakeProvider, redirect_transport
from tests.test_import_traces import TRACE, otlp, span
from tui.cli import cli

FAST = RetryPolicy(max_attempts=1, base_s=0.01, cap_s=0.02)
ENV = {"OPENAI_API_KEY": "sk-openai-1", "ANTHROPIC_API_KEY": "sk-ant-2",
       "GEMINI_API_KEY": "gemini-3"}
HOSTS = ("api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com")


def undecided_session(tmp_path: Path) -> Store:
    """One call to a model no provider is known for, with a tool call and its result."""
    messages = [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1",
                                         "name": "get_weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                    "response": "rainy"}]},
    ]
    raw = span("00000000000000f1", "chat", {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "my-finetune",
        "gen_ai.input.messages": json.dumps(messages),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
            {"type": "text", "content": "Rainy, take an umbrella."}],
            "finish_reason": "stop"}]),
        "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 5,
    })
    path = tmp_path / "undecided.json"
    path.write_text(json.dumps(otlp(raw)))
    store = Store(tmp_path / "s.db")
    assert import_paths(store, [path]).errors == []
    return store


def test_undecided_request_says_so_in_show(tmp_path: Path) -> None:
    store = undecided_session(tmp_path)
    (request,) = store.session_requests(TRACE, bodies=True)
    assert undecided_note(request) and "--format" in undecided_note(request)
    result = CliRunner().invoke(cli, ["--db", str(store.path), "show", request.id], obj={})
    assert result.exit_code == 0, result.output
    assert "format undecided" in result.output


@pytest.mark.parametrize(("chosen", "host", "path"), [
    ("anthropic", "api.anthropic.com", "/v1/messages"),
    ("responses", "api.openai.com", "/v1/responses"),
    ("gemini", "generativelanguage.googleapis.com",
     "/v1beta/models/my-finetune:generateContent"),
    ("chat", "api.openai.com", "/v1/chat/completions"),
])
async def test_replay_sends_undecided_requests_in_the_chosen_format(
    tmp_path: Path, chosen: str, host: str, path: str
) -> None:
    store = undecided_session(tmp_path)
    with FakeProvider() as provider:
        ports = dict.fromkeys(HOSTS, provider.port)
        async with httpx.AsyncClient(transport=redirect_transport(ports)) as client:
            replay = await run_replay(store, ReplaySpec(session_id=TRACE, format=chosen),
                                      client=client, env=ENV, retry=FAST)
    (result,) = store.replay_results(replay.id).values()
    assert replay.status == "done", (result.status, result.error)
    (received,) = provider.received
    assert received.path == path
    assert result.output_text.startswith("reply(Be brief.): ")
    body = received.body
    if chosen == "anthropic":
        assert body["system"] == "Be brief."
        assert body["messages"][-1]["content"][0] == {
            "type": "tool_result", "tool_use_id": "call_1", "content": "rainy"}
    elif chosen == "responses":
        assert body["instructions"] == "Be brief."
        assert [i.get("type", "message") for i in body["input"]] == [
            "message", "function_call", "function_call_output"]
    elif chosen == "gemini":
        assert body["contents"][-1]["parts"][0]["functionResponse"]["name"] == "get_weather"
    else:
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}


def test_a_format_that_cannot_carry_the_request_is_refused(tmp_path: Path) -> None:
    store = undecided_session(tmp_path)
    (request,) = store.session_requests(TRACE, bodies=True)
    body = dict(request.request_body)
    body["messages"] = [*body["messages"], {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
    with_image = request.model_copy(update={"request_body": body})
    with pytest.raises(FormatChoiceError, match="image_url content"):
        decide_formats([with_image], "anthropic")
    assert decide_formats([with_image], "chat") == [with_image]
    store.upsert_requests([with_image])
    result = CliRunner().invoke(cli, ["--db", str(store.path), "replay", TRACE,
                                      "--format", "gemini"], obj={})
    assert result.exit_code == 1
    assert "--format gemini" in result.output and "image_url content" in result.output

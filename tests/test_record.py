"""`reprise record` with the official SDKs: a real recorder between real clients and a loopback
provider; what the SDKs get equals a direct call, what is stored equals what was sent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

from core.servers.base import ServerThread  # noqa: E402
from core.servers.recorder import Recorder, RecordEvent, RecordSettings  # noqa: E402
from core.store import Store  # noqa: E402
from tests.servers import FakeProvider, default_reply  # noqa: E402

KEY = "sk-test-d0-not-st0re-me"
TOOLS_OPENAI = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
TOOLS_ANTHROPIC = [{"name": "get_weather", "description": "Weather in a city",
                    "input_schema": {"type": "object",
                                     "properties": {"city": {"type": "string"}}}}]


def reply(body: dict[str, Any]) -> str | dict[str, Any]:
    """Ask for the weather tool first; answer in text once a tool result is in the input."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    has_result = last.get("role") == "tool" or (
        isinstance(last.get("content"), list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last["content"]))
    if body.get("tools") and not has_result:
        return {"text": "", "tool_calls": [{"id": "call_1", "name": "get_weather",
                                            "arguments": '{"city": "Paris"}'}]}
    return default_reply(body)


class Running:
    def __init__(self, provider: FakeProvider, recorder: Recorder, server: ServerThread,
                 events: list[RecordEvent]) -> None:
        self.provider, self.recorder, self.server, self.events = provider, recorder, server, events

    def flush(self) -> None:
        assert self.recorder.writer is not None
        self.recorder.writer.flush()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    events: list[RecordEvent] = []
    with FakeProvider(reply=reply) as provider:
        settings = RecordSettings(db=str(tmp_path / "rec.db"), session_name="sdk run",
                                  upstreams={"openai": provider.base_url,
                                             "anthropic": provider.base_url})
        recorder = Recorder(settings, log=events.append)
        with ServerThread(recorder.app()) as server:
            yield Running(provider, recorder, server, events)


def openai_client(base: str) -> Any:
    return openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=10)


def anthropic_client(base: str) -> Any:
    return anthropic.Anthropic(base_url=base, api_key=KEY, max_retries=0, timeout=10)


def openai_turns(client: Any, stream: bool) -> list[Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a weather bot."},
                                      {"role": "user", "content": "Weather in Paris?"}]
    results: list[Any] = []
    for _ in range(2):
        if stream:
            chunks = list(client.chat.completions.create(
                model="gpt-4o-mini", messages=messages, tools=TOOLS_OPENAI, stream=True,
                stream_options={"include_usage": True}))
            results.append([c.model_dump() for c in chunks])
            calls = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or []]
            call_id = next((tc.id for tc in calls if tc.id), None)
        else:
            completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                                        tools=TOOLS_OPENAI, temperature=0.3)
            results.append(completion.model_dump())
            call_id = (completion.choices[0].message.tool_calls or [None])[0]
            call_id = call_id.id if call_id else None
        if call_id is None:
            break
        messages += [{"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "rainy, 12C"}]
    return results


def anthropic_turns(client: Any, stream: bool) -> list[Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    results: list[Any] = []
    for _ in range(2):
        kwargs = dict(model="claude-3-5-haiku-20241022", max_tokens=200, system="Be brief.",
                      messages=messages, tools=TOOLS_ANTHROPIC)
        if stream:
            events = list(client.messages.create(stream=True, **kwargs))
            results.append([e.model_dump() for e in events])
            uses = [e.content_block for e in events if e.type == "content_block_start"
                    and e.content_block.type == "tool_use"]
            use_id = uses[0].id if uses else None
        else:
            message = client.messages.create(**kwargs)
            results.append(message.model_dump())
            uses = [b for b in message.content if b.type == "tool_use"]
            use_id = uses[0].id if uses else None
        if use_id is None:
            break
        messages += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": use_id,
                                               "name": "get_weather",
                                               "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use_id,
                                          "content": "rainy, 12C"}]}]
    return results


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_sdks_through_recorder_match_direct_and_bodies_are_stored(
    running: Running, stream: bool
) -> None:
    provider, base = running.provider, running.server.url
    direct = openai_turns(openai_client(provider.base_url), stream)
    direct += anthropic_turns(anthropic_client(provider.base_url), stream)
    sent_direct = len(provider.received)
    proxied = openai_turns(openai_client(base), stream)
    proxied += anthropic_turns(anthropic_client(base), stream)
    assert len(direct) == 4 and proxied == direct

    running.flush()
    received = provider.received[sent_direct:]
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" or
               r.headers.get("x-api-key") == KEY for r in received)
    with Store(running.recorder.settings.db) as store:
        (session,) = store.list_sessions()
        assert session.name == "sdk run" and session.requests == 4
        stored = store.session_requests(session.id, bodies=True)
    assert [r.request_body for r in stored] == [r.body for r in received]
    assert [r.provider for r in stored] == ["openai", "openai", "anthropic", "anthropic"]
    assert all(r.status == 200 and r.latency_ms is not None for r in stored)
    first_openai, second_openai, first_claude, second_claude = stored
    tool_call = first_openai.response_body["choices"][0]["message"]["tool_calls"][0]
    assert tool_call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert second_openai.response_body["choices"][0]["message"]["content"].startswith("reply(")
    assert first_claude.response_body["content"][0]["input"] == {"city": "Paris"}
    assert second_claude.response_body["content"][0]["text"].startswith("reply(Be brief.)")
    if stream:
        assert all(r.time_to_first_token_ms is not None for r in stored)
        assert second_openai.response_body["usage"]["prompt_tokens"] == 10
        assert first_claude.response_body["stop_reason"] == "end_turn"
    assert KEY.encode() not in Path(running.recorder.settings.db).read_bytes()
    assert not any(KEY in e.text for e in running.events)


def test_recorded_session_replays(running: Running, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tui.cli import cli

    base = running.server.url
    openai_turns(openai_client(base), True)
    anthropic_turns(anthropic_client(base), False)
    running.flush()
    db = running.recorder.settings.db
    with Store(db) as store:
        (session,) = store.list_sessions()
    with Store(db) as store:
        requests = store.session_requests(session.id)
    # Recorded calls carry no prompt id: each gets one derived from its system prompt.
    ids = [r.prompt_id for r in requests]
    assert ids[0] == ids[1] and ids[0].startswith("sys-you-are-a-weather-")
    assert ids[2] == ids[3] and ids[2].startswith("sys-be-brief-")
    host = running.provider.base_url.removeprefix("http://")
    before = len(running.provider.received)
    result = CliRunner().invoke(cli, ["--db", db, "replay", session.id, "--allow-host", host,
                                      "--append-system", "*= Be nice.",
                                      "--append-system", f"{ids[2]}= Be brief!", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["status"] for r in report["requests"]] == ["done"] * 4
    systems = [b.get("system") or b["messages"][0]["content"]
               for b in running.provider.bodies()[before:]]
    # `*` reaches every request; a prompt id named explicitly wins over it.
    assert sorted(systems) == ["Be brief. Be brief!", "Be brief. Be brief!",
                               "You are a weather bot. Be nice.",
                               "You are a weather bot. Be nice."]


def test_helicone_headers_are_honoured_and_not_forwarded(running: Running) -> None:
    client = openai_client(running.server.url)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"Helicone-Session-Id": "hs-1", "Helicone-Session-Name": "Checkout",
                       "Helicone-Session-Path": "/cart/pay", "Helicone-Prompt-Id": "payer",
                       "Helicone-Auth": "Bearer sk-helicone-secret"})
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"X-Reprise-Session": "named by header"})
    running.flush()
    headers = [r.headers for r in running.provider.received]
    assert not any(k.startswith("helicone-") or k == "x-reprise-session"
                   for h in headers for k in h)
    with Store(running.recorder.settings.db) as store:
        (request,) = store.session_requests("hs-1")
        assert (request.session_name, request.session_path, request.prompt_id) == (
            "Checkout", "/cart/pay", "payer")
        names = {s.name for s in store.list_sessions()}
    assert names == {"Checkout", "named by header"}


def test_upstream_errors_reach_the_app_and_are_recorded_failed(running: Running) -> None:
    provider = running.provider
    client = openai_client(running.server.url)
    provider.fail_next(1, status=429, retry_after="7",
                       body={"error": {"message": "slow down", "type": "rate_limit"}})
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.body == {"message": "slow down", "type": "rate_limit"}
    provider.drop_next(1)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])
    running.flush()
    with Store(running.recorder.settings.db) as store:
        (session,) = store.list_sessions()
        limited, dropped = store.session_requests(session.id, bodies=True)
    assert limited.status == 429 and limited.response_body["error"]["message"] == "slow down"
    assert dropped.status == 502 and "upstream" in dropped.properties["reprise.error"]
    assert sum(e.failed for e in running.events) == 2


def test_client_leaving_mid_stream_is_recorded_truncated(tmp_path: Path) -> None:
    with FakeProvider(chunk_delay=0.05, reply=lambda b: " ".join(["word"] * 40)) as provider:
        settings = RecordSettings(db=str(tmp_path / "rec.db"),
                                  upstreams={"openai": provider.base_url})
        recorder = Recorder(settings)
        with ServerThread(recorder.app()) as server:
            body = {"model": "gpt-4o-mini", "stream": True,
                    "messages": [{"role": "user", "content": "talk"}]}
            with httpx.Client(timeout=5) as client, client.stream(
                "POST", server.url + "/v1/chat/completions", json=body
            ) as response:
                for line in response.iter_lines():
                    if "word" in line:
                        break  # the first token arrived; the app goes away
            assert recorder.writer is not None
            deadline = time.monotonic() + 5
            while not recorder.stats.requests and time.monotonic() < deadline:
                time.sleep(0.02)
            recorder.writer.flush()
            with Store(settings.db) as store:
                (session,) = store.list_sessions()
                (request,) = store.session_requests(session.id, bodies=True)
    assert request.status == 499 and "disconnected" in request.properties["reprise.error"]
    text = request.response_body["choices"][0]["message"]["content"] or ""
    assert 0 < len(text.split()) < 40
    assert len(provider.received) == 1  # the upstream call was aborted, not retried


def test_responses_api_and_gemini_through_the_recorder(running: Running) -> None:
    base, provider = running.server.url, running.provider
    running.recorder.settings.upstreams["gemini"] = provider.base_url
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    answers = []
    for url in (provider.base_url, base):
        client = openai_client(url)
        plain = client.responses.create(model="gpt-4o-mini", instructions="Be brief.",
                                        input="Weather in Paris?", tools=tools)
        events = list(client.responses.create(model="gpt-4o-mini", input="Hello", stream=True))
        answers.append((plain.model_dump(), [e.model_dump() for e in events]))
    # Response ids count up on the provider: compare everything else.
    assert _without_ids(answers[0]) == _without_ids(answers[1])

    gemini = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
              "systemInstruction": {"parts": [{"text": "Be kind."}]}}
    path = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    direct = httpx.post(provider.base_url + path, json=gemini, headers={"x-goog-api-key": KEY})
    proxied = httpx.post(base + path, json=gemini, headers={"x-goog-api-key": KEY})
    assert proxied.status_code == 200 and proxied.content == direct.content
    running.flush()
    with Store(running.recorder.settings.db) as store:
        (session,) = store.list_sessions()
        stored = store.session_requests(session.id, bodies=True)
    from core.formats import detect_format

    plain_r, streamed_r, gemini_r = stored
    assert detect_format(plain_r.request_body).name == "responses"
    assert detect_format(streamed_r.request_body).output(streamed_r.response_body).text
    fmt = detect_format(gemini_r.request_body)
    assert fmt.name == "gemini" and gemini_r.provider == "google"
    assert gemini_r.model == "gemini-2.0-flash" and gemini_r.request_url.endswith(
        ":streamGenerateContent")
    assert fmt.output(gemini_r.response_body).text == "reply(Be kind.): Hi"
    assert gemini_r.time_to_first_token_ms is not None
    assert KEY.encode() not in Path(running.recorder.settings.db).read_bytes()


def _without_ids(value: Any) -> Any:
    """The provider numbers its responses (`resp_fake0001`, `msg_resp_fake0001`…)."""
    import re

    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_ids(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"resp_fake\d+", "resp_fake", value)
    return value

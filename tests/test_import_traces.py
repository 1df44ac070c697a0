"""Importing traces: OpenTelemetry GenAI (current and older shapes), OpenInference (OTLP and
Phoenix JSONL) and Langfuse exports, on real files into a real store."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from core.formats import detect_format
from core.sources.importers import import_paths, sniff
from core.store import Store

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
NANOS = 1_767_000_000_000_000_000


def value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": value(x)} for k, x in v.items()]}}
    return {"stringValue": str(v)}


def span(span_id: str, name: str, attrs: dict[str, Any], parent: str = "", *, start: int = 0,
         events: list[dict[str, Any]] | None = None, trace: str = TRACE) -> dict[str, Any]:
    return {
        "traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": 3,
        "startTimeUnixNano": str(NANOS + start * 1_000_000_000),
        "endTimeUnixNano": str(NANOS + start * 1_000_000_000 + 750_000_000),
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
        "events": events or [], "status": {},
    }


def otlp(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": value("agent")}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
    }]}


WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def current_semconv_spans() -> list[dict[str, Any]]:
    """An agent turn: two chat calls under `agent run / plan`, the second after a tool call."""
    first_input = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
    first_output = [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "reasoning", "content": "I should call the tool."},
        {"type": "tool_call", "id": "call_1", "name": "get_weather",
         "arguments": {"city": "Paris"}}]}]
    second_input = [*first_input, {"role": "assistant", "parts": first_output[0]["parts"][1:]},
                    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                                "response": "rainy, 12C"}]}]
    common = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.conversation.id": "conv-42",
        "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 300,
        "gen_ai.system_instructions": json.dumps([{"type": "text",
                                                   "content": "You are a weather bot."}]),
        "gen_ai.tool.definitions": json.dumps([WEATHER_TOOL]),
        "gen_ai.prompt.name": "weather-bot", "gen_ai.prompt.version": "3",
    }
    return [
        span("00000000000000a1", "agent run", {"gen_ai.operation.name": "invoke_agent"}),
        span("00000000000000a2", "plan", {}, "00000000000000a1"),
        span("00000000000000b1", "chat gpt-4o-mini", {
            **common, "gen_ai.input.messages": json.dumps(first_input),
            "gen_ai.output.messages": first_output,  # structured, not JSON text
            "gen_ai.usage.input_tokens": 21, "gen_ai.usage.output_tokens": 9,
        }, "00000000000000a2", start=1),
        span("00000000000000b2", "chat gpt-4o-mini", {
            **common, "gen_ai.input.messages": json.dumps(second_input),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop",
                                                   "parts": [{"type": "text",
                                                              "content": "Rainy, 12C."}]}]),
        }, "00000000000000a2", start=2),
        span("00000000000000c1", "execute_tool get_weather",
             {"gen_ai.operation.name": "execute_tool"}, "00000000000000a2", start=1),
    ]


def test_otel_current_semconv_jsonl_becomes_replayable_openai_session(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "traces.jsonl"
    spans = current_semconv_spans()
    # The collector's file exporter writes one document per export batch, children first.
    path.write_text(json.dumps(otlp(*spans[2:])) + "\n" + json.dumps(otlp(*spans[:2])) + "\n")
    assert sniff(path) == "otel"
    counts = import_paths(store, [path])
    assert counts.errors == [] and counts.imported == 2
    session = store.get_session("conv-42")
    assert session is not None and session.requests == 2 and session.name == "agent run"
    first, second = store.session_requests("conv-42", bodies=True)
    assert first.session_path == "/agent run/plan"
    assert first.prompt_id == "weather-bot" and first.properties["prompt_version"] == "3"
    assert (first.provider, first.model) == ("openai", "gpt-4o-mini")
    assert (first.prompt_tokens, first.completion_tokens, first.total_tokens) == (21, 9, 30)
    assert first.latency_ms == 750
    body = first.request_body
    assert detect_format(body).name == "openai"
    assert body["messages"] == [{"role": "system", "content": "You are a weather bot."},
                                {"role": "user", "content": "Weather in Paris?"}]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 300
    assert body["tools"][0]["function"]["name"] == "get_weather"
    out = detect_format(body).output(first.response_body)
    assert out.tool_calls[0].name == "get_weather"
    assert json.loads(out.tool_calls[0].arguments) == {"city": "Paris"}
    assert second.request_body["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert second.request_body["messages"][3] == {"role": "tool", "tool_call_id": "call_1",
                                                  "content": "rainy, 12C"}
    assert detect_format(second.request_body).output(second.response_body).text == "Rainy, 12C."

    again = import_paths(store, [path])
    assert again.imported == 0 and again.errors == []
    assert store.session_requests("conv-42", bodies=True) == [first, second]


def test_otel_anthropic_model_becomes_anthropic_body(store: Store, tmp_path: Path) -> None:
    spans = current_semconv_spans()
    for raw in spans:
        for attr in raw["attributes"]:
            if attr["key"] == "gen_ai.provider.name":
                attr["value"] = value("anthropic")
            if attr["key"] == "gen_ai.request.model":
                attr["value"] = value("claude-sonnet-4-5")
    path = tmp_path / "one.json"
    path.write_text(json.dumps(otlp(*spans)))
    assert import_paths(store, [path]).errors == []
    first, second = store.session_requests("conv-42", bodies=True)
    fmt = detect_format(second.request_body, second.provider)
    assert fmt.name == "anthropic"
    assert second.request_body["system"] == "You are a weather bot."
    assert second.request_body["messages"][1]["content"][0]["type"] == "tool_use"
    assert second.request_body["messages"][2]["content"][0] == {
        "type": "tool_result", "tool_use_id": "call_1", "content": "rainy, 12C"}
    assert fmt.output(first.response_body).tool_calls[0].name == "get_weather"


def test_otel_legacy_flat_attributes_and_events(store: Store, tmp_path: Path) -> None:
    flat = span("00000000000000d1", "openai.chat", {
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "llm.request.type": "chat",
        "session.id": "legacy-session",
        "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "Add 2 and 3",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.finish_reason": "tool_calls",
        "gen_ai.completion.0.tool_calls.0.id": "call_9",
        "gen_ai.completion.0.tool_calls.0.name": "add",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"a": 2, "b": 3}',
        "llm.request.functions.0.name": "add",
        "llm.request.functions.0.parameters": '{"type": "object"}',
        "gen_ai.usage.prompt_tokens": 12, "gen_ai.usage.completion_tokens": 4,
    })
    events = span("00000000000000d2", "chat gpt-4o", {
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.operation.name": "chat", "session.id": "legacy-session",
    }, start=1, events=[
        {"name": "gen_ai.user.message", "attributes": [{"key": "content",
                                                          "value": value("Hi there")}]},
        {"name": "gen_ai.choice", "attributes": [
            {"key": "finish_reason", "value": value("stop")},
            {"key": "message", "value": value({"role": "assistant", "content": "Hello!"})}]},
    ])
    path = tmp_path / "legacy.json.gz"
    path.write_bytes(gzip.compress(json.dumps(otlp(flat, events)).encode()))
    assert import_paths(store, [path], "otel").errors == []
    first, second = store.session_requests("legacy-session", bodies=True)
    assert first.request_body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert first.request_body["tools"][0]["function"]["name"] == "add"
    call = first.response_body["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert first.response_body["choices"][0]["finish_reason"] == "tool_calls"
    assert second.request_body["messages"] == [{"role": "user", "content": "Hi there"}]
    assert second.response_body["choices"][0]["message"]["content"] == "Hello!"


def test_span_without_content_is_stored_not_replayable(store: Store, tmp_path: Path) -> None:
    bare = span("00000000000000e1", "chat mystery", {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "acme",
        "gen_ai.request.model": "acme-1", "gen_ai.usage.input_tokens": 5,
    })
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(otlp(bare)))
    assert import_paths(store, [path]).imported == 1
    (request,) = store.session_requests(TRACE, bodies=True)
    assert request.body_state == "missing" and request.request_body is None
    assert "no message content" in request.properties["reprise.not_replayable"]


def test_undecidable_format_is_marked(store: Store, tmp_path: Path) -> None:
    raw = span("00000000000000e2", "chat", {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "my-finetune",
        "gen_ai.input.messages": json.dumps([{"role": "user",
                                              "parts": [{"type": "text", "content": "hi"}]}]),
    })
    path = tmp_path / "x.json"
    path.write_text(json.dumps(otlp(raw)))
    assert import_paths(store, [path]).errors == []
    (request,) = store.session_requests(TRACE, bodies=True)
    assert request.properties["reprise.format"] == "undecided"
    assert request.request_body["messages"] == [{"role": "user", "content": "hi"}]


def test_bad_rows_are_one_line_errors_and_good_rows_kept(store: Store, tmp_path: Path) -> None:
    good = otlp(*current_semconv_spans())
    bad_id = otlp(span("zz", "chat", {"gen_ai.operation.name": "chat"}))
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([json.dumps(good), "{not json", json.dumps(bad_id),
                               json.dumps({"hello": 1})]) + "\n")
    counts = import_paths(store, [path], "otel")
    assert counts.imported == 2
    assert [e.split(": ")[0] for e in counts.errors] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert all("\n" not in e for e in counts.errors)


def openinference_attrs(session: str) -> dict[str, Any]:
    return {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai", "session.id": session,
        "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0.5}),
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "You are terse.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "Weather?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_7",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments":
            '{"city": "Oslo"}',
        "llm.tools.0.tool.json_schema": json.dumps({"type": "function", "function": {
            "name": "get_weather", "parameters": {"type": "object"}}}),
        "llm.token_count.prompt": 30, "llm.token_count.completion": 8,
        "llm.token_count.total": 38,
    }


def test_openinference_otlp_and_phoenix_jsonl_give_the_same_request(
    store: Store, tmp_path: Path
) -> None:
    otlp_path = tmp_path / "oi.json"
    otlp_path.write_text(json.dumps(otlp(span("00000000000000f1", "ChatCompletion",
                                              openinference_attrs("oi-session")))))
    counts = import_paths(store, [otlp_path])
    assert counts.errors == [] and counts.imported == 1
    (from_otlp,) = store.session_requests("oi-session", bodies=True)
    assert from_otlp.request_body["messages"][1] == {"role": "user", "content": "Weather?"}
    assert from_otlp.request_body["temperature"] == 0.5
    assert from_otlp.request_body["tools"][0]["function"]["name"] == "get_weather"
    assert from_otlp.response_body["choices"][0]["message"]["tool_calls"][0]["id"] == "call_7"
    assert from_otlp.total_tokens == 38

    # Phoenix's span download nests the same attributes.
    attrs = openinference_attrs("phoenix-session")
    nested_messages = [
        {"message.role": "system", "message.content": "You are terse."},
        {"message.role": "user", "message.contents": [
            {"message_content.type": "text", "message_content.text": "Weather?"}]},
    ]
    row = {
        "name": "ChatCompletion", "span_kind": "LLM", "parent_id": None,
        "start_time": "2026-01-02T03:04:05.000+00:00", "end_time": "2026-01-02T03:04:06.5+00:00",
        "status_code": "OK", "status_message": "",
        "context.span_id": "00000000000000f2", "context.trace_id": TRACE,
        "attributes.llm.input_messages": nested_messages,
        "attributes.llm.output_messages": [{"message.role": "assistant", "message.tool_calls": [
            {"tool_call.id": "call_7", "tool_call.function.name": "get_weather",
             "tool_call.function.arguments": '{"city": "Oslo"}'}]}],
        "attributes.llm": {"model_name": "gpt-4o-mini", "provider": "openai",
                           "invocation_parameters": attrs["llm.invocation_parameters"],
                           "tools": [{"tool": {"json_schema": attrs["llm.tools.0.tool.json_schema"]}}],
                           "token_count": {"prompt": 30, "completion": 8, "total": 38}},
        "attributes.session.id": "phoenix-session",
    }
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "context.span_id": None}) + "\n")
    assert sniff(path) == "openinference"
    counts = import_paths(store, [path])
    assert counts.imported == 1 and len(counts.errors) == 1 and counts.errors[0].startswith(
        f"{path}:2: ")
    (from_phoenix,) = store.session_requests("phoenix-session", bodies=True)
    assert from_phoenix.request_body == from_otlp.request_body
    assert from_phoenix.response_body["choices"] == from_otlp.response_body["choices"]
    assert from_phoenix.latency_ms == 1500


def langfuse_observations() -> list[dict[str, Any]]:
    return [
        {"id": "obs-root", "traceId": "lf-trace", "type": "SPAN", "name": "research",
         "startTime": "2026-02-01T10:00:00.000Z", "parentObservationId": None},
        {"id": "obs-gen-1", "traceId": "lf-trace", "type": "GENERATION", "name": "OpenAI-generation",
         "startTime": "2026-02-01 10:00:01.000", "endTime": "2026-02-01 10:00:02.250",
         "completionStartTime": "2026-02-01 10:00:01.400",
         "parentObservationId": "obs-root", "model": "gpt-4o",
         "modelParameters": {"temperature": "0.7", "max_tokens": "256"},
         "input": [{"role": "system", "content": "You research."},
                   {"role": "user", "content": "Find X"}],
         "output": {"role": "assistant", "content": "X is 42."},
         "usage": {"input": "11", "output": "4", "total": "15", "unit": "TOKENS"},
         "promptName": "researcher", "promptVersion": 2, "calculatedTotalCost": "0.0012"},
        {"id": "obs-gen-2", "traceId": "lf-trace", "type": "GENERATION", "name": "claude",
         "startTime": 1769940005000, "endTime": 1769940006000, "parentObservationId": "obs-root",
         "model": "claude-3-5-haiku-20241022",
         "input": {"system": "You summarise.", "messages": [
             {"role": "user", "content": [{"type": "text", "text": "Summarise X"}]}]},
         "output": {"content": [{"type": "text", "text": "X: 42"}], "stop_reason": "end_turn"},
         "usageDetails": {"input": 9, "output": 3}},
        {"id": "obs-gen-3", "traceId": "lf-trace", "type": "GENERATION", "name": "hidden",
         "startTime": "2026-02-01T10:00:07Z", "model": "gpt-4o", "input": None, "output": None},
    ]


def test_langfuse_api_page_and_traces_export(store: Store, tmp_path: Path) -> None:
    page = tmp_path / "observations.json"
    page.write_text(json.dumps({"data": langfuse_observations(), "meta": {"page": 1}}))
    assert sniff(page) == "langfuse"
    counts = import_paths(store, [page])
    assert counts.errors == [] and counts.imported == 3
    first, second, hidden = store.session_requests("lf-trace", bodies=True)
    assert first.session_path == "/research" and first.prompt_id == "researcher"
    assert first.request_body["messages"][0] == {"role": "system", "content": "You research."}
    assert first.request_body["temperature"] == 0.7 and first.request_body["max_tokens"] == 256
    assert (first.prompt_tokens, first.completion_tokens, first.total_tokens) == (11, 4, 15)
    assert first.cost == 0.0012 and first.time_to_first_token_ms == 400
    assert first.latency_ms == 1250
    assert detect_format(second.request_body, second.provider).name == "anthropic"
    assert second.request_body["system"] == "You summarise."
    assert second.response_body["content"] == [{"type": "text", "text": "X: 42"}]
    assert hidden.body_state == "missing"

    # The UI export of traces nests observations and carries the session id.
    traces = tmp_path / "traces.jsonl"
    traces.write_text(json.dumps({"id": "lf-trace", "name": "Research run", "sessionId": "lf-s1",
                                  "observations": langfuse_observations()}) + "\n")
    counts = import_paths(store, [traces], "langfuse")
    assert counts.errors == []
    session = store.get_session("lf-s1")
    assert session is not None and session.name == "Research run" and session.requests == 3


def test_langfuse_bad_observation_reports_line(store: Store, tmp_path: Path) -> None:
    rows = langfuse_observations()
    rows[1]["startTime"] = "yesterday at noon"
    path = tmp_path / "obs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    counts = import_paths(store, [path])
    assert counts.imported == 2
    assert len(counts.errors) == 1 and counts.errors[0].startswith(f"{path}:2: ")


def test_cli_import_detects_and_forces_format_and_plan_skips_contentless(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from core.replay.models import ReplaySpec
    from core.replay.plan import plan_replay
    from tui.cli import cli

    db = tmp_path / "cli.db"
    spans = current_semconv_spans()
    spans.append(span("00000000000000e9", "chat", {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
        "gen_ai.conversation.id": "conv-42"}, start=3))
    path = tmp_path / "t.json"
    path.write_text(json.dumps(otlp(*spans)))
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(db), "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"imported": 3, "updated": 0, "unchanged": 0,
                                         "skipped": 0, "errors": []}
    result = runner.invoke(cli, ["--db", str(db), "import", str(path), "--format", "langfuse"])
    assert result.exit_code == 1 and "not a Langfuse observation" in result.stderr
    result = runner.invoke(cli, ["--db", str(db), "show", "00000000000000e9"])
    assert result.exit_code == 0 and "no message content" in result.stdout

    with Store(db) as store:
        plan = plan_replay(store.session_requests("conv-42", bodies=True),
                           ReplaySpec(session_id="conv-42"))
    skipped = {item.id: item.skip_reason for item in plan.items if item.skip_reason}
    assert list(skipped) == ["00000000000000e9"] and "no message content" in skipped[
        "00000000000000e9"]


def test_gemini_model_becomes_gemini_body(store: Store, tmp_path: Path) -> None:
    spans = current_semconv_spans()
    for raw in spans:
        for attr in raw["attributes"]:
            if attr["key"] == "gen_ai.provider.name":
                attr["value"] = value("gcp.gemini")
            if attr["key"] == "gen_ai.request.model":
                attr["value"] = value("gemini-2.0-flash")
    path = tmp_path / "gemini.json"
    path.write_text(json.dumps(otlp(*spans)))
    assert import_paths(store, [path]).errors == []
    first, second = store.session_requests("conv-42", bodies=True)
    fmt = detect_format(second.request_body, second.provider, second.request_url)
    assert fmt.name == "gemini"
    assert fmt.system_prompts(second.request_body) == ["You are a weather bot."]
    assert fmt.output(first.response_body).tool_calls[0].name == "get_weather"
    assert fmt.output(second.response_body).text == "Rainy, 12C."

"""OpenInference (Arize Phoenix) LLM spans as calls.

On the wire messages are flattened keys: `llm.input_messages.N.message.role`, `.content`,
`.contents.M.message_content.text`, `.tool_calls.M.tool_call.function.name`…; Phoenix's
JSONL download nests the same keys (`attributes.llm.input_messages: [{"message.role": …}]`),
which `spans.flatten` turns back into the flat form. Parameters come from
`llm.invocation_parameters` (JSON text), tools from `llm.tools.N.tool.json_schema`.
"""

from __future__ import annotations

from typing import Any

from core.parsing import parse_time
from core.sources.calls import Call, ChatMessage, Part, ToolDef
from core.sources.otlp import OtlpError, Span
from core.sources.spans import (
    SpanIndex,
    flatten,
    indexed,
    integer,
    number,
    parse_jsonish,
    text_of,
)

_PARAM_KEYS = ("temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "stop",
               "seed", "frequency_penalty", "presence_penalty", "n", "response_format",
               "tool_choice", "parallel_tool_calls", "reasoning_effort")


def is_llm_span(attributes: dict[str, Any]) -> bool:
    kind = str(attributes.get("openinference.span.kind") or "").upper()
    if kind:
        return kind == "LLM"
    return any(key.startswith("llm.input_messages.") for key in attributes)


def call_from_span(span: Span, index: SpanIndex) -> Call:
    attrs = span.attributes
    messages = [_message(item) for item in indexed(attrs, "llm.input_messages")]
    output = [_message(item) for item in indexed(attrs, "llm.output_messages")]
    system = [m.text for m in messages if m.role in ("system", "developer")]
    messages = [m for m in messages if m.role not in ("system", "developer")]
    invocation = parse_jsonish(attrs.get("llm.invocation_parameters"))
    invocation = invocation if isinstance(invocation, dict) else {}
    params = {k: invocation[k] for k in _PARAM_KEYS if invocation.get(k) is not None}
    tools = _tools(attrs, invocation)
    session = attrs.get("session.id")
    properties = {"trace_id": span.trace_id, "span_id": span.span_id}
    version = attrs.get("llm.prompt_template.version")
    if version:
        properties["prompt_version"] = str(version)
    error = (span.status_message or "the call failed") if span.status_code == 2 else None
    model = attrs.get("llm.model_name") or invocation.get("model") or "unknown"
    return Call(
        id=span.span_id,
        source="openinference",
        created_at=span.start or span.end,
        response_at=span.end,
        session_id=str(session) if session else span.trace_id,
        session_name=index.root_name(span),
        session_path=index.path(span),
        prompt_id=None,
        provider=str(attrs.get("llm.provider") or attrs.get("llm.system") or "unknown").lower(),
        model=str(model),
        system=system,
        messages=messages,
        output=output,
        tools=tools,
        params=params,
        prompt_tokens=integer(attrs.get("llm.token_count.prompt")),
        completion_tokens=integer(attrs.get("llm.token_count.completion")),
        total_tokens=integer(attrs.get("llm.token_count.total")),
        cost=number(attrs.get("llm.cost.total")),
        error=error,
        stream=bool(invocation.get("stream")),
        has_content=bool(messages or output or system),
        properties=properties,
        user_id=str(attrs["user.id"]) if attrs.get("user.id") else None,
        raw_request=_json_value(attrs, "input"),
        raw_response=_json_value(attrs, "output"),
    )


def _json_value(attrs: dict[str, Any], name: str) -> dict[str, Any] | None:
    """`input.value` / `output.value` when they hold the exact JSON bodies of the call."""
    if str(attrs.get(f"{name}.mime_type") or "") != "application/json":
        return None
    value = parse_jsonish(attrs.get(f"{name}.value"))
    if not isinstance(value, dict):
        return None
    if name == "input" and "messages" not in value:
        return None
    return value


def _message(item: dict[str, Any]) -> ChatMessage:
    role = str(item.get("message.role") or "user")
    parts: list[Part] = []
    tool_call_id = item.get("message.tool_call_id")
    contents = indexed(item, "message.contents")
    if "message.content" in item:
        text = text_of(item.get("message.content"))
    else:
        text = "".join(str(c.get("message_content.text") or "") for c in contents
                       if c.get("message_content.type", "text") == "text")
    if role == "tool":
        return ChatMessage(role="tool", parts=[Part(type="tool_call_response",
                                                    id=str(tool_call_id or ""), text=text,
                                                    name=str(item.get("message.name") or ""))])
    if text:
        parts.append(Part(text=text))
    for call in indexed(item, "message.tool_calls"):
        parts.append(Part(type="tool_call", id=str(call.get("tool_call.id") or ""),
                          name=str(call.get("tool_call.function.name") or ""),
                          arguments=parse_jsonish(call.get("tool_call.function.arguments"))))
    return ChatMessage(role=role, parts=parts)


def _tools(attrs: dict[str, Any], invocation: dict[str, Any]) -> list[ToolDef]:
    raw_tools = [parse_jsonish(t.get("tool.json_schema")) for t in indexed(attrs, "llm.tools")]
    if not raw_tools and isinstance(invocation.get("tools"), list):
        raw_tools = invocation["tools"]
    tools: list[ToolDef] = []
    for raw in raw_tools:
        if not isinstance(raw, dict):
            continue
        fn = inner if isinstance(inner := raw.get("function"), dict) else raw
        if not fn.get("name"):
            continue
        parameters = parse_jsonish(fn.get("parameters", fn.get("input_schema")))
        tools.append(ToolDef(name=str(fn["name"]), description=str(fn.get("description") or ""),
                             parameters=parameters if isinstance(parameters, dict) else {}))
    return tools


def is_phoenix_row(row: Any) -> bool:
    """A span row of Phoenix's JSONL download (flat `context.span_id` or nested `context`)."""
    if not isinstance(row, dict):
        return False
    context = row.get("context")
    return "context.span_id" in row or (isinstance(context, dict) and "span_id" in context)


def span_from_phoenix_row(row: dict[str, Any]) -> Span:
    """One Phoenix span row as a `Span`; its attributes in the flat OpenInference form."""
    flat = flatten(row)
    trace_id = flat.get("context.trace_id")
    span_id = flat.get("context.span_id")
    if not trace_id or not span_id:
        raise OtlpError("row has no context.trace_id or context.span_id")
    attributes = {key[len("attributes."):]: value for key, value in flat.items()
                  if key.startswith("attributes.")}
    if "span_kind" in row and "openinference.span.kind" not in attributes:
        attributes["openinference.span.kind"] = row["span_kind"]
    status = str(row.get("status_code") or "").upper()
    try:
        start, end = parse_time(row.get("start_time")), parse_time(row.get("end_time"))
    except ValueError as exc:
        raise OtlpError(str(exc)) from None
    return Span(
        trace_id=str(trace_id),
        span_id=str(span_id),
        parent_id=str(row["parent_id"]) if row.get("parent_id") else None,
        name=str(row.get("name") or ""),
        start=start,
        end=end,
        attributes=attributes,
        status_code=2 if status == "ERROR" else 1 if status == "OK" else 0,
        status_message=str(row.get("status_message") or ""),
    )

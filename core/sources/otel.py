"""OpenTelemetry GenAI spans (semantic conventions, current and older shapes) as calls.

Current: `gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions` and
`gen_ai.tool.definitions`, as JSON text or structured values, with `text`, `tool_call`,
`tool_call_response` and `reasoning` parts. Older shapes still written by instrumentations:
flat `gen_ai.prompt.N.*` / `gen_ai.completion.N.*` keys (OpenLLMetry), and per-message span
events (`gen_ai.user.message`, `gen_ai.choice`, `gen_ai.content.prompt`…).
Session: `gen_ai.conversation.id`, else `session.id`, else the trace id.
"""

from __future__ import annotations

from typing import Any

from core.sources.calls import Call, ChatMessage, Part, ToolDef
from core.sources.otlp import Span
from core.sources.spans import SpanIndex, indexed, integer, parse_jsonish, text_of

_NOT_CALLS = {"embeddings", "execute_tool", "create_agent", "invoke_agent", "invoke_workflow"}
_CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.prompt.0.role",
                 "gen_ai.prompt.0.content", "gen_ai.completion.0.role",
                 "gen_ai.completion.0.content")
_PARAMS = {
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.top_p": "top_p",
    "gen_ai.request.top_k": "top_k",
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.seed": "seed",
    "gen_ai.request.frequency_penalty": "frequency_penalty",
    "gen_ai.request.presence_penalty": "presence_penalty",
    "gen_ai.request.stop_sequences": "stop",
    "gen_ai.request.choice.count": "n",
}


def is_llm_span(attributes: dict[str, Any]) -> bool:
    operation = str(attributes.get("gen_ai.operation.name") or "").lower()
    if operation in _NOT_CALLS or str(attributes.get("llm.request.type", "")) == "embedding":
        return False
    if operation in ("chat", "text_completion", "generate_content", "completion"):
        return True
    return any(k in attributes for k in _CONTENT_KEYS) or (
        "gen_ai.request.model" in attributes and bool(attributes.get("gen_ai.system")
                                                      or attributes.get("gen_ai.provider.name"))
    )


def call_from_span(span: Span, index: SpanIndex) -> Call:
    attrs = dict(span.attributes)
    for event in span.events:  # newer instrumentations put content on an event
        if event.name == "gen_ai.client.inference.operation.details":
            for key, value in event.attributes.items():
                attrs.setdefault(key, value)
    system, messages = _input(attrs, span)
    output = _output(attrs, span)
    tools = _tools(attrs)
    params = {ours: parse_jsonish(attrs[key]) for key, ours in _PARAMS.items() if key in attrs}
    session = (attrs.get("gen_ai.conversation.id") or attrs.get("session.id")
               or attrs.get("traceloop.association.properties.session_id"))
    prompt_name = attrs.get("gen_ai.prompt.name")
    properties: dict[str, str] = {"trace_id": span.trace_id, "span_id": span.span_id}
    if attrs.get("gen_ai.prompt.version") is not None:
        properties["prompt_version"] = str(attrs["gen_ai.prompt.version"])
    prompt_tokens = integer(attrs.get("gen_ai.usage.input_tokens",
                                      attrs.get("gen_ai.usage.prompt_tokens")))
    completion_tokens = integer(attrs.get("gen_ai.usage.output_tokens",
                                          attrs.get("gen_ai.usage.completion_tokens")))
    error = None
    if span.status_code == 2:
        error = span.status_message or str(attrs.get("error.type") or "the call failed")
    if output and not output[0].finish_reason:
        reasons = parse_jsonish(attrs.get("gen_ai.response.finish_reasons"))
        if isinstance(reasons, list) and reasons:
            output[0] = output[0].model_copy(update={"finish_reason": str(reasons[0])})
    return Call(
        id=span.span_id,
        source="otel",
        created_at=span.start or span.end,
        response_at=span.end,
        session_id=str(session) if session else span.trace_id,
        session_name=str(attrs.get("gen_ai.conversation.name") or index.root_name(span)),
        session_path=index.path(span),
        prompt_id=str(prompt_name) if prompt_name else None,
        provider=str(attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")
                     or span.resource.get("gen_ai.provider.name") or "unknown").lower(),
        model=str(attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
                  or "unknown"),
        system=system,
        messages=messages,
        output=output,
        tools=tools,
        params=params,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=integer(attrs.get("llm.usage.total_tokens")),
        error=error,
        stream=bool(attrs.get("gen_ai.request.stream") or attrs.get("gen_ai.is_streaming")
                    or attrs.get("llm.is_streaming")),
        has_content=bool(messages or output or system),
        properties=properties,
        user_id=str(attrs["user.id"]) if attrs.get("user.id") else None,
    )


# -- the current shape: parts --------------------------------------------------------------
def parts_from(raw: Any) -> list[Part]:
    """GenAI message parts (`text`, `tool_call`, `tool_call_response`, `reasoning`)."""
    raw = parse_jsonish(raw)
    if isinstance(raw, str):
        return [Part(text=raw)]
    parts: list[Part] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            parts.append(Part(text=item))
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "tool_call":
            parts.append(Part(type="tool_call", id=str(item.get("id") or ""),
                              name=str(item.get("name") or ""),
                              arguments=parse_jsonish(item.get("arguments"))))
        elif kind == "tool_call_response":
            result = item.get("response", item.get("result"))
            parts.append(Part(type="tool_call_response", id=str(item.get("id") or ""),
                              text=result if isinstance(result, str) else text_of(result)))
        elif kind == "reasoning":
            parts.append(Part(type="reasoning", text=text_of(item.get("content"))))
        elif kind in (None, "text"):
            parts.append(Part(text=text_of(item.get("content", item.get("text")))))
        else:  # blob, uri, file: no replayable text
            parts.append(Part(text=f"[{kind}]"))
    return parts


def _messages(raw: Any) -> list[ChatMessage]:
    raw = parse_jsonish(raw)
    messages: list[ChatMessage] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            parts = parts_from(item.get("parts")) if "parts" in item else _legacy_parts(item)
            messages.append(ChatMessage(role=str(item.get("role") or "user"), parts=parts,
                                        finish_reason=item.get("finish_reason")))
    return messages


def _input(attrs: dict[str, Any], span: Span) -> tuple[list[str], list[ChatMessage]]:
    system: list[str] = []
    instructions = parse_jsonish(attrs.get("gen_ai.system_instructions"))
    if instructions:
        text = "".join(p.text for p in parts_from(instructions) if p.type == "text")
        if text:
            system.append(text)
    if "gen_ai.input.messages" in attrs:
        return system, _messages(attrs["gen_ai.input.messages"])
    flat = indexed(attrs, "gen_ai.prompt")
    if flat:
        return system, [_flat_message(item) for item in flat]
    return system, _event_messages(span, output=False)


def _output(attrs: dict[str, Any], span: Span) -> list[ChatMessage]:
    if "gen_ai.output.messages" in attrs:
        return _messages(attrs["gen_ai.output.messages"])
    flat = indexed(attrs, "gen_ai.completion")
    if flat:
        return [_flat_message(item, default_role="assistant") for item in flat]
    return _event_messages(span, output=True)


def _tools(attrs: dict[str, Any]) -> list[ToolDef]:
    raw = parse_jsonish(attrs.get("gen_ai.tool.definitions"))
    tools: list[ToolDef] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                fn = inner if isinstance(inner := item.get("function"), dict) else item
                if fn.get("name"):
                    tools.append(_tool(fn))
        return tools
    for item in indexed(attrs, "llm.request.functions"):  # OpenLLMetry's older key
        if item.get("name"):
            tools.append(_tool(item))
    return tools


def _tool(fn: dict[str, Any]) -> ToolDef:
    parameters = parse_jsonish(fn.get("parameters"))
    return ToolDef(name=str(fn["name"]), description=str(fn.get("description") or ""),
                   parameters=parameters if isinstance(parameters, dict) else {})


# -- older shapes ----------------------------------------------------------------------------
def _legacy_parts(item: dict[str, Any]) -> list[Part]:
    """An OpenAI-style message dict (`content`, `tool_calls`, `tool_call_id`) as parts."""
    parts: list[Part] = []
    role = item.get("role")
    content = item.get("content")
    if role == "tool" and (item.get("tool_call_id") or item.get("id")):
        return [Part(type="tool_call_response", id=str(item.get("tool_call_id") or item["id"]),
                     text=text_of(content))]
    text = text_of(content)
    if text:
        parts.append(Part(text=text))
    for call in parse_jsonish(item.get("tool_calls")) or []:
        if isinstance(call, dict):
            fn = inner if isinstance(inner := call.get("function"), dict) else call
            parts.append(Part(type="tool_call", id=str(call.get("id") or ""),
                              name=str(fn.get("name") or ""),
                              arguments=parse_jsonish(fn.get("arguments"))))
    return parts


def _flat_message(item: dict[str, Any], default_role: str = "user") -> ChatMessage:
    """`gen_ai.prompt.N.*` keys of one message: role, content, tool_calls.M.*, tool_call_id."""
    calls = indexed(item, "tool_calls")
    shaped: dict[str, Any] = {
        "role": item.get("role") or default_role,
        "content": item.get("content"),
        "tool_call_id": item.get("tool_call_id"),
        "tool_calls": [
            {"id": c.get("id"), "function": {"name": c.get("name"), "arguments": c.get("arguments")}}
            for c in calls
        ],
    }
    return ChatMessage(role=str(shaped["role"]), parts=_legacy_parts(shaped),
                       finish_reason=item.get("finish_reason"))


_EVENT_ROLES = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}


def _event_messages(span: Span, *, output: bool) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    for event in span.events:
        attrs = event.attributes
        if not output and event.name in _EVENT_ROLES:
            item = {"role": attrs.get("role") or _EVENT_ROLES[event.name],
                    "content": attrs.get("content"), "tool_calls": attrs.get("tool_calls"),
                    "tool_call_id": attrs.get("id") or attrs.get("tool_call_id")}
            messages.append(ChatMessage(role=str(item["role"]), parts=_legacy_parts(item)))
        elif output and event.name == "gen_ai.choice":
            message = parse_jsonish(attrs.get("message")) or {}
            if not isinstance(message, dict):
                message = {"content": message}
            item = {"role": "assistant", **message}
            messages.append(ChatMessage(role="assistant", parts=_legacy_parts(item),
                                        finish_reason=attrs.get("finish_reason")))
        elif event.name == ("gen_ai.content.completion" if output else "gen_ai.content.prompt"):
            key = "gen_ai.completion" if output else "gen_ai.prompt"
            messages.extend(_messages(attrs.get(key)))
    return messages

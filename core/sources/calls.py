"""One neutral shape for an LLM call read from traces, and the replayable bodies built from it.

Tracing formats (OpenTelemetry GenAI, OpenInference, Langfuse) describe a call as messages
made of parts, not as the HTTP body that was sent. Each importer fills a `Call`; `to_request`
turns it into a `LoggedRequest` whose bodies are in the wire format the provider or model
implies (OpenAI chat, Anthropic messages, Gemini), so an imported call replays like a
recorded one. When neither the provider nor the model tells the format, the body is written
as OpenAI chat (what every OpenAI-compatible target speaks) and the request is marked so the
target chosen at replay time decides.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.models import LoggedRequest, normalize_path

MAX_TEXT = 4 * 1024 * 1024  # one part's text; longer text is refused, not truncated
MAX_PARTS = 10_000

PartType = Literal["text", "tool_call", "tool_call_response", "reasoning"]
FORMAT_PROPERTY = "reprise.format"  # "undecided" when the format was not implied
SOURCE_PROPERTY = "reprise.source"
NOT_REPLAYABLE_PROPERTY = "reprise.not_replayable"
NO_CONTENT = (
    "the trace carries no message content (content capture was off when it was recorded)"
)


class Part(BaseModel):
    type: PartType = "text"
    text: str = Field(default="", max_length=MAX_TEXT)  # text, reasoning, or a tool's result
    id: str = Field(default="", max_length=1000)  # tool call id
    name: str = Field(default="", max_length=1000)  # tool name
    arguments: Any = None  # a dict, or JSON text as sent on the wire


class ChatMessage(BaseModel):
    role: str = Field(default="user", max_length=100)
    parts: list[Part] = Field(default_factory=list, max_length=MAX_PARTS)
    finish_reason: str | None = Field(default=None, max_length=200)

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if p.type == "text")


class ToolDef(BaseModel):
    name: str = Field(max_length=1000)
    description: str = Field(default="", max_length=MAX_TEXT)
    parameters: dict[str, Any] = Field(default_factory=dict)


class Call(BaseModel):
    """An LLM call as a trace describes it."""

    id: str = Field(min_length=1, max_length=500)
    source: str  # "otel" | "openinference" | "langfuse"
    created_at: datetime
    response_at: datetime | None = None
    session_id: str | None = Field(default=None, max_length=1000)
    session_name: str = Field(default="", max_length=1000)
    session_path: str = Field(default="/", max_length=10_000)
    prompt_id: str | None = Field(default=None, max_length=1000)
    provider: str = Field(default="unknown", max_length=200)
    model: str = Field(default="unknown", max_length=500)
    system: list[str] = Field(default_factory=list)
    messages: list[ChatMessage] = Field(default_factory=list, max_length=MAX_PARTS)
    output: list[ChatMessage] = Field(default_factory=list, max_length=MAX_PARTS)
    tools: list[ToolDef] = Field(default_factory=list, max_length=MAX_PARTS)
    params: dict[str, Any] = Field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    ttft_ms: float | None = None
    error: str | None = None
    stream: bool = False
    has_content: bool = True
    properties: dict[str, str] = Field(default_factory=dict)
    user_id: str | None = None
    # The exact bodies, when the trace carries them (OpenInference's `input.value`).
    raw_request: dict[str, Any] | None = None
    raw_response: dict[str, Any] | None = None


# -- the wire format a provider or model implies -------------------------------------------
_OPENAI_PROVIDERS = {"openai", "azure", "azure.ai.openai", "azure_openai", "azure.openai"}
_ANTHROPIC_PROVIDERS = {"anthropic"}
_GEMINI_PROVIDERS = {"gemini", "google", "gcp.gemini", "gcp.vertex_ai", "vertex_ai", "vertexai",
                     "gcp.gen_ai", "google_genai", "google.genai"}


def implied_format(provider: str, model: str) -> str | None:
    """"openai", "anthropic" or "gemini" when the provider or model says so, else None."""
    provider = provider.lower().strip()
    model = model.lower().strip()
    if provider in _ANTHROPIC_PROVIDERS or model.startswith(("claude", "anthropic/")):
        return "anthropic"
    if provider in _GEMINI_PROVIDERS or model.startswith(("gemini", "models/gemini")):
        return "gemini" if _gemini_available() else None
    if provider in _OPENAI_PROVIDERS or model.startswith(
        ("gpt-", "gpt4", "o1", "o3", "o4", "chatgpt", "text-davinci", "openai/")
    ):
        return "openai"
    return None


def _gemini_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("core.formats.gemini") is not None


def _arguments_dict(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, str) and arguments.strip():
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return {"_raw": arguments}
        return parsed if isinstance(parsed, dict) else {"_value": parsed}
    return {}


def _arguments_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    if arguments is None:
        return "{}"
    return json.dumps(arguments, ensure_ascii=False)


# -- OpenAI chat -----------------------------------------------------------------------------
def _openai_messages(call: Call) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": text} for text in call.system]
    for message in call.messages:
        texts = [p.text for p in message.parts if p.type == "text"]
        calls = [p for p in message.parts if p.type == "tool_call"]
        results = [p for p in message.parts if p.type == "tool_call_response"]
        for result in results:
            out.append({"role": "tool", "tool_call_id": result.id, "content": result.text})
        if results and not texts and not calls:
            continue
        role = "tool" if message.role == "tool" else message.role
        if role == "tool":  # a tool message without a structured response part
            out.append({"role": "tool", "tool_call_id": "", "content": "".join(texts)})
            continue
        entry: dict[str, Any] = {"role": role, "content": "".join(texts) or None}
        if calls:
            entry["tool_calls"] = [_openai_call(p) for p in calls]
        elif entry["content"] is None:
            entry["content"] = ""
        out.append(entry)
    return out


def _openai_call(part: Part) -> dict[str, Any]:
    return {
        "id": part.id,
        "type": "function",
        "function": {"name": part.name, "arguments": _arguments_text(part.arguments)},
    }


_OPENAI_PARAMS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
                  "frequency_penalty", "presence_penalty", "n", "response_format", "tool_choice",
                  "parallel_tool_calls", "reasoning_effort", "logprobs", "top_logprobs", "user")


# GenAI conventions name finish reasons neutrally; each provider has its own words.
_FINISH = {
    "openai": {"tool_call": "tool_calls", "tool_use": "tool_calls", "end_turn": "stop",
               "max_tokens": "length"},
    "anthropic": {"tool_call": "tool_use", "tool_calls": "tool_use", "stop": "end_turn",
                  "length": "max_tokens"},
}


def _finish(fmt: str, reason: str | None) -> str | None:
    return _FINISH.get(fmt, {}).get(reason or "", reason)


def openai_bodies(call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
    request: dict[str, Any] = {"model": call.model, "messages": _openai_messages(call)}
    for key in _OPENAI_PARAMS:
        if call.params.get(key) is not None:
            request[key] = call.params[key]
    if call.tools:
        request["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}}
            for t in call.tools
        ]
    if call.stream:
        request["stream"] = True
    first = call.output[0] if call.output else ChatMessage(role="assistant")
    message: dict[str, Any] = {"role": "assistant", "content": first.text or None}
    calls = [p for p in first.parts if p.type == "tool_call"]
    if calls:
        message["tool_calls"] = [_openai_call(p) for p in calls]
    response: dict[str, Any] = {
        "id": call.id,
        "object": "chat.completion",
        "model": call.model,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": _finish("openai", first.finish_reason)}],
    }
    usage = _usage(call)
    if usage:
        response["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                             "total_tokens": usage[2]}
    if call.error:
        response = {"error": {"message": call.error}}
    return request, response


def _usage(call: Call) -> tuple[int, int, int] | None:
    if call.prompt_tokens is None and call.completion_tokens is None:
        return None
    prompt, completion = call.prompt_tokens or 0, call.completion_tokens or 0
    return prompt, completion, call.total_tokens or prompt + completion


# -- Anthropic messages ----------------------------------------------------------------------
def _anthropic_messages(call: Call) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for message in call.messages:
        if message.role in ("system", "developer"):
            continue
        blocks: list[dict[str, Any]] = []
        for part in message.parts:
            if part.type == "text" and part.text:
                blocks.append({"type": "text", "text": part.text})
            elif part.type == "tool_call":
                blocks.append({"type": "tool_use", "id": part.id, "name": part.name,
                               "input": _arguments_dict(part.arguments)})
            elif part.type == "tool_call_response":
                blocks.append({"type": "tool_result", "tool_use_id": part.id,
                               "content": part.text})
        if not blocks:
            continue
        has_results = any(b["type"] == "tool_result" for b in blocks)
        role = "user" if message.role in ("tool", "user") or has_results else "assistant"
        add(role, blocks)
    # A single plain text block reads better (and is what most SDK calls send) as a string.
    for entry in out:
        blocks = entry["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            entry["content"] = blocks[0]["text"]
    return out


def anthropic_bodies(call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
    system = [*call.system, *(m.text for m in call.messages if m.role in ("system", "developer"))]
    request: dict[str, Any] = {"model": call.model,
                               "max_tokens": call.params.get("max_tokens") or 4096}
    if system:
        request["system"] = "\n\n".join(system)
    request["messages"] = _anthropic_messages(call)
    for key in ("temperature", "top_p", "top_k"):
        if call.params.get(key) is not None:
            request[key] = call.params[key]
    if call.params.get("stop"):
        stop = call.params["stop"]
        request["stop_sequences"] = stop if isinstance(stop, list) else [stop]
    if call.tools:
        request["tools"] = [{"name": t.name, "description": t.description,
                             "input_schema": t.parameters or {"type": "object"}}
                            for t in call.tools]
    if call.stream:
        request["stream"] = True
    first = call.output[0] if call.output else ChatMessage(role="assistant")
    content: list[dict[str, Any]] = []
    for part in first.parts:
        if part.type == "text":
            content.append({"type": "text", "text": part.text})
        elif part.type == "tool_call":
            content.append({"type": "tool_use", "id": part.id, "name": part.name,
                            "input": _arguments_dict(part.arguments)})
    response: dict[str, Any] = {"id": call.id, "type": "message", "role": "assistant",
                                "model": call.model, "content": content,
                                "stop_reason": _finish("anthropic", first.finish_reason)}
    usage = _usage(call)
    if usage:
        response["usage"] = {"input_tokens": usage[0], "output_tokens": usage[1]}
    if call.error:
        response = {"type": "error", "error": {"type": "api_error", "message": call.error}}
    return request, response


# -- Gemini generateContent ------------------------------------------------------------------
def gemini_bodies(call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
    contents: list[dict[str, Any]] = []
    for message in call.messages:
        if message.role in ("system", "developer"):
            continue
        parts: list[dict[str, Any]] = []
        for part in message.parts:
            if part.type == "text" and part.text:
                parts.append({"text": part.text})
            elif part.type == "tool_call":
                parts.append({"functionCall": {"name": part.name,
                                               "args": _arguments_dict(part.arguments)}})
            elif part.type == "tool_call_response":
                parts.append({"functionResponse": {"name": part.name or part.id,
                                                   "response": {"result": part.text}}})
        if parts:
            role = "model" if message.role == "assistant" else "user"
            contents.append({"role": role, "parts": parts})
    request: dict[str, Any] = {"contents": contents}
    system = [*call.system, *(m.text for m in call.messages if m.role in ("system", "developer"))]
    if system:
        request["systemInstruction"] = {"parts": [{"text": t} for t in system]}
    config = {}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"),
                         ("max_tokens", "maxOutputTokens")):
        if call.params.get(ours) is not None:
            config[theirs] = call.params[ours]
    if config:
        request["generationConfig"] = config
    if call.tools:
        request["tools"] = [{"functionDeclarations": [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in call.tools]}]
    first = call.output[0] if call.output else ChatMessage(role="assistant")
    out_parts: list[dict[str, Any]] = []
    for part in first.parts:
        if part.type == "text":
            out_parts.append({"text": part.text})
        elif part.type == "tool_call":
            out_parts.append({"functionCall": {"name": part.name,
                                               "args": _arguments_dict(part.arguments)}})
    response: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": out_parts},
                        "finishReason": (first.finish_reason or "STOP").upper(), "index": 0}],
        "modelVersion": call.model,
    }
    usage = _usage(call)
    if usage:
        response["usageMetadata"] = {"promptTokenCount": usage[0],
                                     "candidatesTokenCount": usage[1],
                                     "totalTokenCount": usage[2]}
    if call.error:
        response = {"error": {"message": call.error}}
    return request, response


_BUILDERS = {"openai": openai_bodies, "anthropic": anthropic_bodies, "gemini": gemini_bodies}
_PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


def to_request(call: Call) -> LoggedRequest:
    """The `LoggedRequest` a call becomes; without message content it is not replayable."""
    properties = {**call.properties, SOURCE_PROPERTY: call.source}
    fmt = implied_format(call.provider, call.model)
    request_body: Any = None
    response_body: Any = None
    state = "full"
    if call.has_content:
        chosen = fmt or "openai"
        if fmt is None:
            properties[FORMAT_PROPERTY] = "undecided"
        request_body, response_body = _BUILDERS[chosen](call)
        raw = call.raw_request
        if raw is not None and _same_format(raw, chosen):
            request_body = raw
            if call.raw_response is not None:
                response_body = call.raw_response
        url_path = _PATHS.get(chosen)
        if chosen == "gemini":
            url_path = f"/v1beta/models/{call.model}:generateContent"
    else:
        state = "missing"
        properties[NOT_REPLAYABLE_PROPERTY] = NO_CONTENT
        url_path = None
    prompt_tokens, completion_tokens = call.prompt_tokens, call.completion_tokens
    total = call.total_tokens
    if total is None and (prompt_tokens is not None or completion_tokens is not None):
        total = (prompt_tokens or 0) + (completion_tokens or 0)
    latency = None
    if call.response_at is not None:
        latency = max(0.0, (call.response_at - call.created_at).total_seconds() * 1000)
    return LoggedRequest(
        id=call.id,
        created_at=call.created_at,
        response_at=call.response_at,
        session_id=call.session_id,
        session_name=call.session_name,
        session_path=normalize_path(call.session_path),
        prompt_id=call.prompt_id,
        properties=properties,
        user_id=call.user_id,
        provider=call.provider or "unknown",
        model=call.model or "unknown",
        request_url=url_path,
        status=500 if call.error else 200,
        latency_ms=latency,
        time_to_first_token_ms=call.ttft_ms,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=total,
        cost=call.cost,
        request_body=request_body,
        response_body=response_body,
        body_state=state,  # type: ignore[arg-type]
    )


def _same_format(body: dict[str, Any], fmt: str) -> bool:
    from core.formats import detect_format

    found = detect_format(body, fmt if fmt != "openai" else "")
    return found is not None and found.name == fmt


def stable_id(*parts: str) -> str:
    """A short id that is the same every time the same source row is imported."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


# -- OpenAI Responses ------------------------------------------------------------------------
def responses_bodies(call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in call.messages:
        if message.role in ("system", "developer"):
            continue
        text = "".join(p.text for p in message.parts if p.type == "text")
        if text and message.role != "tool":
            items.append({"role": "assistant" if message.role == "assistant" else "user",
                          "content": text})
        for part in message.parts:
            if part.type == "tool_call":
                items.append({"type": "function_call", "call_id": part.id, "name": part.name,
                              "arguments": _arguments_text(part.arguments)})
            elif part.type == "tool_call_response":
                items.append({"type": "function_call_output", "call_id": part.id,
                              "output": part.text})
    request: dict[str, Any] = {"model": call.model, "input": items}
    system = [*call.system, *(m.text for m in call.messages if m.role in ("system", "developer"))]
    if system:
        request["instructions"] = "\n\n".join(system)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"),
                         ("max_tokens", "max_output_tokens")):
        if call.params.get(ours) is not None:
            request[theirs] = call.params[ours]
    if call.tools:
        request["tools"] = [{"type": "function", "name": t.name, "description": t.description,
                             "parameters": t.parameters or {"type": "object"}}
                            for t in call.tools]
    if call.stream:
        request["stream"] = True
    first = call.output[0] if call.output else ChatMessage(role="assistant")
    output: list[dict[str, Any]] = []
    if first.text:
        output.append({"type": "message", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": first.text,
                                    "annotations": []}]})
    for part in first.parts:
        if part.type == "tool_call":
            output.append({"type": "function_call", "call_id": part.id, "name": part.name,
                           "arguments": _arguments_text(part.arguments)})
    response: dict[str, Any] = {"id": call.id, "object": "response", "status": "completed",
                                "model": call.model, "output": output}
    usage = _usage(call)
    if usage:
        response["usage"] = {"input_tokens": usage[0], "output_tokens": usage[1],
                             "total_tokens": usage[2]}
    if call.error:
        response = {"error": {"message": call.error}}
    return request, response


# -- the format of an undecided request, chosen at replay time -------------------------------
UNDECIDED = "undecided"
TARGET_FORMATS = ("chat", "anthropic", "gemini", "responses")
# Chat settings that change what the answer is made of; no other format can carry them.
_CHAT_ONLY = ("response_format", "logprobs", "top_logprobs", "logit_bias", "audio",
              "modalities", "prediction")


class FormatChoiceError(ValueError):
    """The format chosen for an undecided request cannot carry that request."""


def is_undecided(request: LoggedRequest) -> bool:
    return request.properties.get(FORMAT_PROPERTY) == UNDECIDED


def undecided_note(request: LoggedRequest) -> str | None:
    """What `reprise show` and the request detail say about an undecided request."""
    if not is_undecided(request):
        return None
    return ("format undecided: the trace named no provider or model reprise knows, so this"
            " is stored as OpenAI chat; a replay can send it as another format"
            " (reprise replay --format " + "|".join(TARGET_FORMATS) + ")")


def decide_formats(requests: list[LoggedRequest], target: str | None) -> list[LoggedRequest]:
    """The session's requests with every undecided one rebuilt in `target`'s wire format
    (others unchanged); FormatChoiceError names the first one that format cannot carry."""
    if target is None or target == "chat":
        return requests
    if target not in TARGET_FORMATS:
        raise FormatChoiceError(f"--format must be one of {', '.join(TARGET_FORMATS)},"
                                f" not {target!r}")
    return [decide_format(r, target) if is_undecided(r) else r for r in requests]


def decide_format(request: LoggedRequest, target: str) -> LoggedRequest:
    """One undecided request (stored as OpenAI chat) rebuilt in `target`'s wire format."""
    body = request.request_body
    if target == "chat" or not isinstance(body, dict) or request.body_state != "full":
        return request  # not replayable as it is: the replay says why
    if target == "gemini" and not _gemini_available():
        raise FormatChoiceError("this reprise cannot send the gemini format")
    call = _call_from_chat(request, body)
    request_body, response_body = {"anthropic": anthropic_bodies, "gemini": gemini_bodies,
                                   "responses": responses_bodies}[target](call)
    url = {"anthropic": "/v1/messages", "responses": "/v1/responses",
           "gemini": f"/v1beta/models/{request.model}:generateContent"}[target]
    provider = {"anthropic": "anthropic", "gemini": "google"}.get(target, "openai")
    return request.model_copy(update={
        "request_body": request_body, "response_body": response_body, "request_url": url,
        "provider": provider, "properties": {**request.properties, FORMAT_PROPERTY: target},
    })


def _call_from_chat(request: LoggedRequest, body: dict[str, Any]) -> Call:
    """The neutral call an OpenAI chat body describes; FormatChoiceError for what only chat
    can say (non-text content, chat-only settings, several choices)."""
    def refuse(what: str) -> FormatChoiceError:
        return FormatChoiceError(f"request {request.id}: {what} cannot be sent in another"
                                 " format; replay it with --format chat")

    for key in _CHAT_ONLY:
        if body.get(key) not in (None, False):
            raise refuse(f"its {key!r} setting")
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise refuse("asking for several choices (n)")
    names: dict[str, str] = {}
    system: list[str] = []
    messages: list[ChatMessage] = []
    for index, message in enumerate(body.get("messages") or []):
        if not isinstance(message, dict):
            raise refuse(f"message {index} (not an object)")
        role = str(message.get("role") or "")
        text = _chat_text(message.get("content"), index, refuse)
        if role in ("system", "developer"):
            system.append(text)
            continue
        if role not in ("user", "assistant", "tool"):
            raise refuse(f"message {index}'s role {role!r}")
        parts: list[Part] = []
        if role == "tool":
            call_id = str(message.get("tool_call_id") or "")
            parts.append(Part(type="tool_call_response", id=call_id,
                              name=names.get(call_id, ""), text=text))
        elif text:
            parts.append(Part(text=text))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict):
                raise refuse(f"message {index}'s tool call")
            part = Part(type="tool_call", id=str(call.get("id") or ""),
                        name=str(function.get("name") or ""), arguments=function.get("arguments"))
            names[part.id] = part.name
            parts.append(part)
        messages.append(ChatMessage(role=role, parts=parts))
    tools = []
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            raise refuse("a tool that is not a function")
        tools.append(ToolDef(name=str(function.get("name") or ""),
                             description=str(function.get("description") or ""),
                             parameters=function.get("parameters") or {}))
    params: dict[str, Any] = {k: body[k] for k in ("temperature", "top_p", "stop", "seed")
                              if k in body}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        params["max_tokens"] = limit
    output, tokens = _chat_output(request.response_body)
    return Call(id=request.id, source="chat", created_at=request.created_at,
                model=str(body.get("model") or request.model), system=system,
                messages=messages, output=output, tools=tools, params=params,
                stream=bool(body.get("stream")), prompt_tokens=tokens[0],
                completion_tokens=tokens[1], total_tokens=tokens[2],
                error=_chat_error(request.response_body))


def _chat_text(content: Any, index: int, refuse: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise refuse(f"message {index}'s content")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text":
            raise refuse(f"message {index}'s {kind or 'unknown'} content")
        texts.append(str(part.get("text") or ""))
    return "".join(texts)


def _chat_output(response: Any) -> tuple[list[ChatMessage], tuple[Any, Any, Any]]:
    if not isinstance(response, dict):
        return [], (None, None, None)
    usage = found if isinstance(found := response.get("usage"), dict) else {}
    tokens = tuple(v if isinstance(v, int) and not isinstance(v, bool) else None
                   for v in (usage.get("prompt_tokens"), usage.get("completion_tokens"),
                             usage.get("total_tokens")))
    choices = response.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        return [], tokens  # type: ignore[return-value]
    parts = [Part(text=message["content"])] if isinstance(message.get("content"), str) else []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(Part(type="tool_call", id=str(call.get("id") or ""),
                              name=str(function.get("name") or ""),
                              arguments=function.get("arguments")))
    finish = choice.get("finish_reason") if isinstance(choice, dict) else None
    return [ChatMessage(role="assistant", parts=parts,
                        finish_reason=str(finish) if finish else None)], tokens  # type: ignore[return-value]


def _chat_error(response: Any) -> str | None:
    error = response.get("error") if isinstance(response, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or "error")
    return str(error) if error else None

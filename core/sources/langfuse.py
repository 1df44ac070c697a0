"""Langfuse observation exports (public API or UI export, JSON or JSONL) as calls.

Only `GENERATION` observations are calls; the others (spans, events) give the path of their
children. `input` and `output` come in whatever shape the instrumented SDK wrote: a list of
chat messages (OpenAI or Anthropic content blocks, LangChain `type: human`), `{"messages":
[...], "tools": [...]}`, a whole chat completion, or plain text. Numbers may be strings and
timestamps need not be ISO-8601. Session: `sessionId` (of the observation or its trace), else
the trace id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.parsing import parse_time
from core.sources.calls import Call, ChatMessage, Part, ToolDef
from core.sources.spans import integer, number, parse_jsonish, text_of

_ROLES = {"human": "user", "ai": "assistant", "model": "assistant", "function": "tool",
          "chatbot": "assistant"}
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %H:%M:%S",
                 "%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S %Z")
_PARAM_MAP = {"max_tokens": "max_tokens", "maxTokens": "max_tokens",
              "max_output_tokens": "max_tokens", "temperature": "temperature",
              "top_p": "top_p", "topP": "top_p", "top_k": "top_k", "stop": "stop",
              "seed": "seed", "frequency_penalty": "frequency_penalty",
              "presence_penalty": "presence_penalty"}


class Observation(BaseModel):
    """The fields reprise reads from a Langfuse observation; the rest is ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=500)
    trace_id: str | None = Field(default=None, alias="traceId", max_length=500)
    type: str = Field(default="GENERATION", max_length=100)
    name: str | None = Field(default=None, max_length=10_000)
    start_time: Any = Field(default=None, alias="startTime")
    end_time: Any = Field(default=None, alias="endTime")
    completion_start_time: Any = Field(default=None, alias="completionStartTime")
    model: str | None = Field(default=None, max_length=500)
    model_parameters: Any = Field(default=None, alias="modelParameters")
    input: Any = None
    output: Any = None
    usage: Any = None
    usage_details: Any = Field(default=None, alias="usageDetails")
    total_cost: Any = Field(default=None, alias="calculatedTotalCost")
    cost_details: Any = Field(default=None, alias="costDetails")
    level: str | None = Field(default=None, max_length=100)
    status_message: str | None = Field(default=None, alias="statusMessage", max_length=100_000)
    parent_id: str | None = Field(default=None, alias="parentObservationId", max_length=500)
    prompt_name: str | None = Field(default=None, alias="promptName", max_length=1000)
    prompt_version: Any = Field(default=None, alias="promptVersion")
    session_id: str | None = Field(default=None, alias="sessionId", max_length=1000)
    user_id: str | None = Field(default=None, alias="userId", max_length=1000)
    metadata: Any = None


def is_observation(row: Any) -> bool:
    return isinstance(row, dict) and "traceId" in row and "type" in row and "id" in row


def is_trace(row: Any) -> bool:
    return isinstance(row, dict) and isinstance(row.get("observations"), list) and "id" in row


def parse_langfuse_time(value: Any) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:
        pass
    text = str(value).strip()
    for fmt in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a timestamp: {str(value)[:60]!r}")


class TraceInfo(BaseModel):
    name: str = ""
    session_id: str | None = None
    user_id: str | None = None


def call_from_observation(obs: Observation, by_id: dict[str, Observation],
                          traces: dict[str, TraceInfo]) -> Call:
    trace = traces.get(obs.trace_id or "") or TraceInfo()
    created = parse_langfuse_time(obs.start_time)
    if created is None:
        raise ValueError("startTime is missing")
    ended = parse_langfuse_time(obs.end_time)
    first_token = parse_langfuse_time(obs.completion_start_time)
    system, messages, tools = read_input(obs.input)
    output = read_output(obs.output)
    params = _params(obs.model_parameters)
    usage = _usage(obs.usage_details) or _usage(obs.usage) or (None, None, None)
    chain = _ancestors(obs, by_id)
    metadata = obs.metadata if isinstance(obs.metadata, dict) else {}
    properties = {"trace_id": obs.trace_id or "", "observation_id": obs.id}
    if obs.prompt_version not in (None, ""):
        properties["prompt_version"] = str(obs.prompt_version)
    error = None
    if (obs.level or "").upper() == "ERROR":
        error = obs.status_message or "the call failed"
    cost = number(obs.total_cost)
    if cost is None and isinstance(obs.cost_details, dict):
        cost = number(obs.cost_details.get("total"))
    provider = metadata.get("ls_provider") or metadata.get("provider") or "unknown"
    return Call(
        id=obs.id,
        source="langfuse",
        created_at=created,
        response_at=ended,
        session_id=obs.session_id or trace.session_id or obs.trace_id,
        session_name=trace.name or (chain[0].name if chain else obs.name) or "",
        session_path="/" + "/".join(" ".join((a.name or a.type).replace("/", " ").split())
                                    for a in chain),
        prompt_id=obs.prompt_name or None,
        provider=str(provider).lower(),
        model=obs.model or "unknown",
        system=system,
        messages=messages,
        output=output,
        tools=tools,
        params=params,
        prompt_tokens=usage[0],
        completion_tokens=usage[1],
        total_tokens=usage[2],
        cost=cost,
        ttft_ms=(first_token - created).total_seconds() * 1000 if first_token else None,
        error=error,
        has_content=bool(messages or output or system),
        properties=properties,
        user_id=obs.user_id or trace.user_id,
    )


def _ancestors(obs: Observation, by_id: dict[str, Observation]) -> list[Observation]:
    chain: list[Observation] = []
    seen = {obs.id}
    parent = obs.parent_id
    while parent and parent in by_id and parent not in seen and len(chain) < 32:
        seen.add(parent)
        chain.append(by_id[parent])
        parent = by_id[parent].parent_id
    return list(reversed(chain))


def _params(raw: Any) -> dict[str, Any]:
    raw = parse_jsonish(raw)
    params: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return params
    for key, value in raw.items():
        ours = _PARAM_MAP.get(key)
        if ours is None or value in (None, ""):
            continue
        if ours == "stop":
            params[ours] = parse_jsonish(value)
        elif ours in ("max_tokens", "seed", "top_k"):
            params[ours] = integer(value)
        else:
            params[ours] = number(value)
    return {k: v for k, v in params.items() if v is not None}


def _usage(raw: Any) -> tuple[int | None, int | None, int | None] | None:
    if not isinstance(raw, dict):
        return None
    prompt = integer(raw.get("input", raw.get("promptTokens", raw.get("prompt_tokens"))))
    completion = integer(raw.get("output", raw.get("completionTokens",
                                                   raw.get("completion_tokens"))))
    total = integer(raw.get("total", raw.get("totalTokens", raw.get("total_tokens"))))
    if prompt is None and completion is None and total is None:
        return None
    return prompt, completion, total


# -- messages in any shape -------------------------------------------------------------------
def read_input(raw: Any) -> tuple[list[str], list[ChatMessage], list[ToolDef]]:
    raw = parse_jsonish(raw)
    tools: list[ToolDef] = []
    if isinstance(raw, dict):
        for key in ("tools", "functions"):
            for item in raw.get(key) or []:
                if isinstance(item, dict):
                    fn = inner if isinstance(inner := item.get("function"), dict) else item
                    if fn.get("name"):
                        schema = fn.get("parameters", fn.get("input_schema"))
                        tools.append(ToolDef(name=str(fn["name"]),
                                             description=str(fn.get("description") or ""),
                                             parameters=schema if isinstance(schema, dict) else {}))
        system_field = raw.get("system")
        if "messages" in raw:
            raw = raw["messages"]
        elif "prompt" in raw:
            raw = raw["prompt"]
        elif "role" in raw:
            raw = [raw]
        if system_field:
            raw = [{"role": "system", "content": system_field}, *(raw if isinstance(raw, list)
                                                                   else [raw])]
    if isinstance(raw, str):
        return [], ([ChatMessage(role="user", parts=[Part(text=raw)])] if raw else []), tools
    messages = [m for m in (_message(item) for item in raw or []) if m is not None] \
        if isinstance(raw, list) else []
    system = [m.text for m in messages if m.role in ("system", "developer")]
    return system, [m for m in messages if m.role not in ("system", "developer")], tools


def read_output(raw: Any) -> list[ChatMessage]:
    raw = parse_jsonish(raw)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [ChatMessage(role="assistant", parts=[Part(text=raw)])]
    if isinstance(raw, dict) and isinstance(raw.get("choices"), list) and raw["choices"]:
        choice = raw["choices"][0] if isinstance(raw["choices"][0], dict) else {}
        message = _message({"role": "assistant", **(choice.get("message") or {})})
        if message is None:
            return []
        return [message.model_copy(update={"finish_reason": choice.get("finish_reason")})]
    if isinstance(raw, dict):
        message = _message({"role": "assistant", **raw})
        if message is None:
            return []
        reason = raw.get("stop_reason") or raw.get("finish_reason")
        return [message.model_copy(update={"finish_reason": reason})]
    if isinstance(raw, list):
        if all(isinstance(i, dict) and "type" in i and "role" not in i for i in raw):
            message = _message({"role": "assistant", "content": raw})  # content blocks
            return [message] if message else []
        return [m for m in (_message(item) for item in raw) if m is not None]
    return [ChatMessage(role="assistant", parts=[Part(text=str(raw))])]


def _message(item: Any) -> ChatMessage | None:
    if isinstance(item, str):
        return ChatMessage(role="user", parts=[Part(text=item)])
    if not isinstance(item, dict):
        return None
    role = str(item.get("role") or item.get("type") or "user")
    role = _ROLES.get(role, role)
    content = parse_jsonish(item.get("content"))
    parts: list[Part] = []
    if role == "tool":
        call_id = str(item.get("tool_call_id") or item.get("id") or "")
        return ChatMessage(role="tool", parts=[Part(type="tool_call_response", id=call_id,
                                                    name=str(item.get("name") or ""),
                                                    text=text_of(content))])
    if isinstance(content, list):
        for block in content:
            if isinstance(block, str):
                parts.append(Part(text=block))
            elif isinstance(block, dict):
                kind = block.get("type")
                if kind == "tool_use":
                    parts.append(Part(type="tool_call", id=str(block.get("id") or ""),
                                      name=str(block.get("name") or ""),
                                      arguments=block.get("input")))
                elif kind == "tool_result":
                    parts.append(Part(type="tool_call_response",
                                      id=str(block.get("tool_use_id") or ""),
                                      text=text_of(block.get("content"))))
                elif kind == "thinking":
                    parts.append(Part(type="reasoning", text=str(block.get("thinking") or "")))
                elif isinstance(block.get("text"), str):
                    parts.append(Part(text=block["text"]))
    elif content is not None:
        text = text_of(content)
        if text:
            parts.append(Part(text=text))
    for call in item.get("tool_calls") or []:
        if isinstance(call, dict):
            fn = inner if isinstance(inner := call.get("function"), dict) else call
            parts.append(Part(type="tool_call", id=str(call.get("id") or ""),
                              name=str(fn.get("name") or ""),
                              arguments=parse_jsonish(fn.get("arguments", fn.get("args")))))
    if isinstance(item.get("function_call"), dict):
        fn = item["function_call"]
        parts.append(Part(type="tool_call", name=str(fn.get("name") or ""),
                          arguments=parse_jsonish(fn.get("arguments"))))
    results = [p for p in parts if p.type == "tool_call_response"]
    if results and len(results) == len(parts):
        role = "tool"
    return ChatMessage(role=role, parts=parts)

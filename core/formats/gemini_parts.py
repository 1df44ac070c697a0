"""Gemini's building blocks: fields in either spelling, parts, and the agent-replay splice.

The REST API accepts camelCase and snake_case field names (`systemInstruction`,
`system_instruction`); every read goes through `field` so both work. A content's parts hold
text, thoughts, `functionCall`s and `functionResponse`s; `split_parts` sorts them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.formats import Message, ToolCall


def field(mapping: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase name or its snake_case twin."""
    if camel in mapping:
        return mapping[camel]
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return mapping.get(snake)


def field_key(mapping: dict[str, Any], camel: str) -> str:
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return snake if snake in mapping and camel not in mapping else camel


def content_messages(content: dict[str, Any]) -> list[Message]:
    role = "assistant" if content.get("role") == "model" else str(content.get("role") or "user")
    parts = [p for p in as_list(field(content, "parts")) if isinstance(p, dict)]
    responses = [p for p in parts if field(p, "functionResponse") is not None]
    messages = [
        Message(role="tool", text=as_json(field(r, "functionResponse").get("response")),
                tool_call_id=call_id(field(r, "functionResponse")),
                name=str(field(r, "functionResponse").get("name") or "") or None)
        for r in responses if isinstance(field(r, "functionResponse"), dict)
    ]
    text, reasoning, calls = split_parts([p for p in parts if p not in responses])
    if text or reasoning or calls:
        messages.append(Message(role=role, text=text, reasoning=reasoning, tool_calls=calls))
    return messages


def split_parts(parts: list[Any]) -> tuple[str, str, list[ToolCall]]:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        call = field(part, "functionCall")
        if isinstance(call, dict):
            name = str(call.get("name") or "")
            arguments = json.dumps(call.get("args") or {}, sort_keys=True)
            calls.append(ToolCall(id=call_id(call) or synthetic_id(name, arguments), name=name,
                                  arguments=arguments))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
        elif field(part, "inlineData") is not None or field(part, "fileData") is not None:
            texts.append("[file]")
        elif field(part, "executableCode") is not None:
            texts.append(str(as_dict(field(part, "executableCode")).get("code") or ""))
        elif field(part, "codeExecutionResult") is not None:
            texts.append(str(as_dict(field(part, "codeExecutionResult")).get("output") or ""))
    return "".join(texts), "".join(thoughts), calls


SYNTHETIC_PREFIX = "gemini-call-"


def synthetic_id(name: str, arguments: str) -> str:
    """A stable id for a function call Gemini sent without one: the same call gets the same id
    in the answer that made it and in every later request carrying it, so results pair up.
    Never sent to Google (`render` drops it)."""
    import hashlib

    digest = hashlib.sha1(f"{name}\n{arguments}".encode()).hexdigest()[:12]
    return f"{SYNTHETIC_PREFIX}{re.sub(r'[^A-Za-z0-9_-]', '_', name)}-{digest}"


def pair_results(messages: list[Message]) -> list[Message]:
    """Give each function response without an id the id of the call it answers (by name, in
    order), so tool results pair with their calls like in the other formats."""
    pending: dict[str, list[str]] = {}
    for message in messages:
        for call in message.tool_calls:
            pending.setdefault(call.name, []).append(call.id)
        if message.role == "tool" and not message.tool_call_id:
            waiting = pending.get(message.name or "") or []
            if waiting:
                message.tool_call_id = waiting.pop(0)
    return messages


def parts_text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "\n".join(
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def call_id(call: dict[str, Any]) -> str | None:
    """Gemini ids function calls only sometimes; the name stands in for pairing otherwise."""
    value = call.get("id")
    return str(value) if value else None


def as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI subset spells types in capitals (`STRING`); JSON Schema wants lower."""
    if isinstance(schema, dict):
        return {
            k: v.lower() if k == "type" and isinstance(v, str) else lower_types(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [lower_types(v) for v in schema]
    return schema


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class GeminiConversation:
    """How agent replay splices replayed turns into Gemini `contents`."""

    def raw_messages(self, body: dict[str, Any]) -> list[Any]:
        return list(as_list(field(body, "contents")))

    def with_messages(self, body: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
        return {**body, field_key(body, "contents"): messages}

    def calls_in(self, message: Any) -> list[ToolCall]:
        if not isinstance(message, dict) or message.get("role") != "model":
            return []
        return split_parts(as_list(field(message, "parts")))[2]

    def answers_in(self, message: Any) -> tuple[list[str], Any | None]:
        if not isinstance(message, dict) or message.get("role") == "model":
            return [], message
        parts = [p for p in as_list(field(message, "parts")) if isinstance(p, dict)]
        answers = [p for p in parts if isinstance(field(p, "functionResponse"), dict)]
        if not answers:
            return [], message
        ids = [call_id(field(p, "functionResponse")) or "" for p in answers]
        rest = [p for p in parts if p not in answers]
        return ids, ({**message, "parts": rest} if rest else None)

    def render(self, exchange: Any, tail: list[Any]) -> list[Any]:
        parts: list[dict[str, Any]] = [{"text": exchange.text}] if exchange.text else []
        for call in exchange.calls:
            function: dict[str, Any] = {"name": call.name, "args": as_object(call.arguments)}
            if call.id and not call.id.startswith(SYNTHETIC_PREFIX):
                function["id"] = call.id
            parts.append({"functionCall": function})
        answers: list[dict[str, Any]] = []
        for result in exchange.results:
            value = as_object(result.content or "")
            response: dict[str, Any] = {"name": result.name,
                                        "response": {"error": value} if result.is_error
                                        else value}
            if result.call_id:
                response["id"] = result.call_id
            answers.append({"functionResponse": response})
        rest = list(tail)
        # Roles alternate: text a person added after the results joins the same user turn.
        if rest and isinstance(rest[0], dict) and rest[0].get("role", "user") == "user":
            answers.extend(as_list(rest.pop(0).get("parts")))
        return [{"role": "model", "parts": parts}, {"role": "user", "parts": answers}, *rest]


def as_object(text: str) -> dict[str, Any]:
    """A tool result or arguments as the JSON object Gemini's Struct fields need."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}

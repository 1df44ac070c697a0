"""Translate an Anthropic messages body into an OpenAI chat completions body.

Replaying an Anthropic session against an OpenAI-compatible endpoint (the local model,
Ollama, vLLM, llama.cpp, OpenRouter) needs the same conversation in the other wire format:
the top-level `system` becomes a system message, typed content blocks become text,
`tool_use` blocks become `tool_calls` and `tool_result` blocks become `tool` messages.
"""

from __future__ import annotations

import json
from typing import Any

from core.formats import content_text

_SAMPLING_KEYS = ("model", "max_tokens", "temperature", "top_p", "stream", "metadata")


def anthropic_to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """A new OpenAI chat body with the same conversation, tools and sampling settings."""
    messages: list[dict[str, Any]] = []
    system = content_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            messages.extend(_convert_message(message))
    result: dict[str, Any] = {k: body[k] for k in _SAMPLING_KEYS if k in body and k != "metadata"}
    result["messages"] = messages
    if body.get("stop_sequences"):
        result["stop"] = list(body["stop_sequences"])
    if body.get("stream"):
        result["stream_options"] = {"include_usage": True}
    tools = [_convert_tool(t) for t in body.get("tools") or [] if isinstance(t, dict)]
    if tools:
        result["tools"] = tools
        choice = _convert_tool_choice(body.get("tool_choice"))
        if choice is not None:
            result["tool_choice"] = choice
    return result


def _convert_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    role = str(message.get("role") or "user")
    content = message.get("content")
    if not isinstance(content, list):
        return [{"role": role, "content": content_text(content)}]
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    tool_results: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name") or ""),
                        "arguments": json.dumps(block.get("input") or {}),
                    },
                }
            )
        elif kind == "tool_result":
            tool_results.append(
                {
                    "role": "tool",
                    "tool_call_id": str(block.get("tool_use_id") or ""),
                    "content": content_text(block.get("content")),
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # chat completions have no place for Anthropic's signed thinking
        else:
            texts.append(content_text([block]))
    converted: list[dict[str, Any]] = list(tool_results)
    text = "\n".join(t for t in texts if t)
    if calls:
        converted.append({"role": "assistant", "content": text or None, "tool_calls": calls})
    elif text or not tool_results:
        converted.append({"role": role, "content": text})
    return converted


def _convert_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": str(tool.get("name") or "")}
    if tool.get("description"):
        function["description"] = tool["description"]
    # Some clients (AI SDK, gateways) send OpenAI-style `parameters` instead of `input_schema`.
    function["parameters"] = (
        tool.get("input_schema") or tool.get("parameters") or {"type": "object", "properties": {}}
    )
    return {"type": "function", "function": function}


def _convert_tool_choice(choice: Any) -> Any:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    return None


def normalize_for_compatible(body: dict[str, Any]) -> dict[str, Any]:
    """What every OpenAI-compatible server accepts: no `content: null` beside tool calls.

    llama.cpp's and llama-cpp-python's servers reject an assistant message whose content is
    null (OpenAI itself allows it); an empty string means the same to every server.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    changed = False
    fixed = []
    for message in messages:
        if isinstance(message, dict) and message.get("content") is None and (
            message.get("role") == "assistant" or message.get("tool_calls")
        ):
            message = {**message, "content": ""}
            changed = True
        fixed.append(message)
    return {**body, "messages": fixed} if changed else body

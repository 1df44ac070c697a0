"""Responses API items: typed input and output items read as messages, and spliced back.

Input and output share one item vocabulary — messages with typed parts, `function_call` /
`function_call_output`, `reasoning`, hosted tool calls — so reading a request's input, a
response's output and an agent replay's splice all go through these helpers.
"""

from __future__ import annotations

import json
from typing import Any

from core.formats import Message, ToolCall

# Output items that are tool calls run by OpenAI itself; shown as calls, never replayed alone.
HOSTED_CALLS = (
    "web_search_call", "file_search_call", "computer_call", "code_interpreter_call",
    "image_generation_call", "local_shell_call", "mcp_call", "mcp_list_tools",
    "shell_call", "apply_patch_call", "tool_search_call",
)


def items_to_messages(items: list[Any]) -> list[Message]:
    result: list[Message] = []
    for item in items:
        if isinstance(item, str):
            result.append(Message(role="user", text=item))
            continue
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in (None, "message") and "role" in item:
            result.append(Message(role=str(item.get("role") or "user"),
                                  text=parts_text(item.get("content"))))
        elif is_call(item):
            call = call_of(item)
            last = result[-1] if result else None
            if last is not None and last.role == "assistant" and not last.tool_call_id:
                last.tool_calls.append(call)
            else:
                result.append(Message(role="assistant", tool_calls=[call]))
        elif kind in ("function_call_output", "custom_tool_call_output") or str(kind).endswith(
            "_call_output"
        ):
            result.append(Message(role="tool", text=output_text(item.get("output")),
                                  tool_call_id=str(item.get("call_id") or "") or None))
        elif kind == "reasoning":
            result.append(Message(role="assistant", reasoning=reasoning_text(item)))
        elif kind == "item_reference":
            result.append(Message(role="user", text=f"[stored item {item.get('id')}]"))
    return result


def is_call(item: dict[str, Any]) -> bool:
    kind = item.get("type")
    return kind in ("function_call", "custom_tool_call") or kind in HOSTED_CALLS


def call_of(item: dict[str, Any]) -> ToolCall:
    kind = item.get("type")
    if kind == "function_call":
        arguments = item.get("arguments", "")
        return ToolCall(id=str(item.get("call_id") or item.get("id") or ""),
                        name=str(item.get("name") or ""),
                        arguments=arguments if isinstance(arguments, str)
                        else json.dumps(arguments))
    if kind == "custom_tool_call":
        return ToolCall(id=str(item.get("call_id") or item.get("id") or ""),
                        name=str(item.get("name") or ""), arguments=str(item.get("input") or ""))
    detail = {k: v for k, v in item.items() if k not in ("type", "id", "status")}
    name = str(item.get("name") or kind) if kind == "mcp_call" else str(kind)
    return ToolCall(id=str(item.get("call_id") or item.get("id") or ""), name=name,
                    arguments=json.dumps(detail, ensure_ascii=False, sort_keys=True))


def parts_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif kind == "refusal":
                parts.append(f"[refusal] {part.get('refusal') or ''}")
            elif kind == "input_image":
                parts.append("[image]")
            elif kind == "input_file":
                parts.append(f"[file {part.get('filename') or part.get('file_id') or ''}]".strip())
            elif kind == "input_audio":
                parts.append("[audio]")
    return "\n".join(p for p in parts if p)


def output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return parts_text(output)
    return "" if output is None else json.dumps(output, ensure_ascii=False)


def reasoning_text(item: dict[str, Any]) -> str:
    texts = [str(s.get("text") or "") for s in _list(item.get("summary")) if isinstance(s, dict)]
    if not any(texts):
        texts = [str(c.get("text") or "") for c in _list(item.get("content"))
                 if isinstance(c, dict)]
    text = "\n".join(t for t in texts if t)
    if not text and item.get("encrypted_content"):
        text = "[encrypted reasoning]"
    return text


class ResponsesConversation:
    """How agent replay splices replayed turns into Responses input items.

    A turn is several items (reasoning, an assistant message, one `function_call` each), so
    consecutive assistant-side items are grouped into one list while the splice works, and
    flattened back when the body is written.
    """

    def raw_messages(self, body: dict[str, Any]) -> list[Any]:
        grouped: list[Any] = []
        for item in input_list(body.get("input")):
            if assistant_side(item):
                if grouped and isinstance(grouped[-1], list):
                    grouped[-1].append(item)
                else:
                    grouped.append([item])
            else:
                grouped.append(item)
        return grouped

    def with_messages(self, body: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
        flat: list[Any] = []
        for message in messages:
            flat.extend(message if isinstance(message, list) else [message])
        return {**body, "input": flat}

    def calls_in(self, message: Any) -> list[ToolCall]:
        items = message if isinstance(message, list) else [message]
        return [call_of(i) for i in items if isinstance(i, dict) and i.get("type") == "function_call"]

    def answers_in(self, message: Any) -> tuple[list[str], Any | None]:
        if isinstance(message, dict) and message.get("type") == "function_call_output":
            return [str(message.get("call_id") or "")], None
        return [], message

    def render(self, exchange: Any, tail: list[Any]) -> list[Any]:
        turn: list[Any] = []
        if exchange.text:
            turn.append({"type": "message", "role": "assistant",
                         "content": [{"type": "output_text", "text": exchange.text}]})
        turn += [{"type": "function_call", "call_id": c.id, "name": c.name,
                  "arguments": c.arguments or "{}"} for c in exchange.calls]
        results = [{"type": "function_call_output", "call_id": r.call_id,
                    "output": r.content or ""} for r in exchange.results]
        return [turn, *results, *tail]


def input_list(raw: Any) -> list[Any]:
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    return list(raw) if isinstance(raw, list) else []


def assistant_side(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    return kind in ("reasoning", "function_call") or (
        kind in (None, "message") and item.get("role") == "assistant"
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []

"""Anthropic messages: top-level `system` (string or blocks), typed content blocks."""

from __future__ import annotations

import json
from typing import Any

from core.formats import Message, Output, ToolCall, content_text, replace_in_content


class AnthropicMessages:
    name = "anthropic"
    default_path = "/v1/messages"

    def messages(self, body: dict[str, Any]) -> list[Message]:
        result = [Message(role="system", text=text) for text in self.system_prompts(body)]
        for raw in body.get("messages") or []:
            if not isinstance(raw, dict):
                continue
            role = str(raw.get("role") or "user")
            content = raw.get("content")
            calls: list[ToolCall] = []
            if isinstance(content, list):
                text_parts = []
                for block in content:
                    if not isinstance(block, dict):
                        continue
                    if block.get("type") == "tool_use":
                        calls.append(_tool_call(block))
                    elif block.get("type") == "tool_result":
                        result.append(
                            Message(
                                role="tool",
                                text=content_text(block.get("content")),
                                tool_call_id=block.get("tool_use_id"),
                            )
                        )
                    else:
                        text_parts.append(block)
                text = content_text(text_parts)
                if not text and not calls:
                    continue
            else:
                text = content_text(content)
            result.append(Message(role=role, text=text, tool_calls=calls))
        return result

    def system_prompts(self, body: dict[str, Any]) -> list[str]:
        system = body.get("system")
        if system is None or system == "":
            return []
        return [content_text(system)]

    def tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in body.get("tools") or [] if isinstance(t, dict)]

    def output(self, response: Any) -> Output:
        if not isinstance(response, dict):
            return Output(text="" if response is None else str(response))
        if response.get("type") == "error" or "error" in response:
            error = response.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            return Output(error=str(message or response))
        if "helicone_error" in response:
            return Output(error=str(response["helicone_error"]))
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in response.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                texts.append(str(block.get("text") or ""))
            elif block.get("type") == "tool_use":
                calls.append(_tool_call(block))
        usage = response.get("usage") or {}
        return Output(
            text="".join(texts),
            tool_calls=calls,
            prompt_tokens=usage.get("input_tokens") if isinstance(usage, dict) else None,
            completion_tokens=usage.get("output_tokens") if isinstance(usage, dict) else None,
            finish_reason=response.get("stop_reason"),
        )

    def with_system(self, body: dict[str, Any], text: str, *, append: bool) -> dict[str, Any]:
        system = body.get("system")
        if append and isinstance(system, list) and system:
            blocks = list(system)
            for index in range(len(blocks) - 1, -1, -1):
                block = blocks[index]
                if isinstance(block, dict) and block.get("type") == "text":
                    blocks[index] = {**block, "text": str(block.get("text") or "") + text}
                    return {**body, "system": blocks}
            return {**body, "system": [*blocks, {"type": "text", "text": text}]}
        if append:
            return {**body, "system": content_text(system) + text}
        if isinstance(system, list):
            # Keep block-level options such as cache_control on the first text block.
            first = next((b for b in system if isinstance(b, dict) and b.get("type") == "text"), {})
            return {**body, "system": [{**first, "type": "text", "text": text}]}
        return {**body, "system": text}

    def substitute(self, body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
        messages = body.get("messages") or []
        updated = []
        changed = False
        for message in messages:
            if isinstance(message, dict) and "content" in message:
                content = replace_in_content(message["content"], old, new)
                if content is not message["content"]:
                    message = {**message, "content": content}
                    changed = True
            updated.append(message)
        return {**body, "messages": updated} if changed else body


def _tool_call(block: dict[str, Any]) -> ToolCall:
    return ToolCall(
        id=str(block.get("id") or ""),
        name=str(block.get("name") or ""),
        arguments=json.dumps(block.get("input") or {}, sort_keys=True),
    )


FORMAT = AnthropicMessages()

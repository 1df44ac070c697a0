"""Anthropic messages: top-level `system` (string or blocks), typed content blocks."""

from __future__ import annotations

import json
import re
from typing import Any

from core.formats import (
    STREAM_CUT,
    Message,
    Output,
    ToolCall,
    as_dict,
    as_list,
    content_text,
    finalize_chat_like,
    no_texts,
    substitute_in_messages,
    substitute_many_in_messages,
    tolerant,
    unexpected_messages,
    unexpected_output,
    usage_problem,
)


class AnthropicMessages:
    name = "anthropic"
    default_path = "/v1/messages"

    @tolerant(unexpected_messages)
    def messages(self, body: dict[str, Any]) -> list[Message]:
        result = [Message(role="system", text=text) for text in self.system_prompts(body)]
        for raw in as_list(body.get("messages")):
            if not isinstance(raw, dict):
                continue
            role = str(raw.get("role") or "user")
            content = raw.get("content")
            calls: list[ToolCall] = []
            reasoning = ""
            if isinstance(content, list):
                text_parts = []
                reasoning = thinking_text(content)
                for block in content:
                    if not isinstance(block, dict):
                        continue
                    if block.get("type") in THINKING_BLOCKS:
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
                if not text and not calls and not reasoning:
                    continue
            else:
                text = content_text(content)
            result.append(Message(role=role, text=text, tool_calls=calls, reasoning=reasoning))
        return result

    @tolerant(no_texts)
    def system_prompts(self, body: dict[str, Any]) -> list[str]:
        system = body.get("system")
        if system is None or system == "":
            return []
        return [content_text(system)]

    @tolerant(no_texts)
    def tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in as_list(body.get("tools")) if isinstance(t, dict)]

    @tolerant(unexpected_output)
    def output(self, response: Any) -> Output:
        if not isinstance(response, dict):
            return Output(text="" if response is None else str(response))
        if "choices" in response and "content" not in response:
            return _openai_shaped_output(response)
        if response.get("type") == "error" or "error" in response:
            error = response.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            return Output(error=str(message or response))
        if "helicone_error" in response:
            return Output(error=str(response["helicone_error"]))
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in as_list(response.get("content")):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                texts.append(str(block.get("text") or ""))
            elif block.get("type") == "tool_use":
                calls.append(_tool_call(block))
        usage = as_dict(response.get("usage"))
        return Output(
            text=clean_stream_artefacts("".join(texts)),
            tool_calls=calls,
            reasoning=thinking_text(response.get("content")),
            prompt_tokens=usage.get("input_tokens") if isinstance(usage, dict) else None,
            completion_tokens=usage.get("output_tokens") if isinstance(usage, dict) else None,
            finish_reason=response.get("stop_reason"),
        )

    def response_problem(self, response: Any) -> str | None:
        if not isinstance(response, dict):
            return "response is not a JSON object"
        if response.get("type") == "error" or "error" in response or "helicone_error" in response:
            return None
        content = response.get("content")
        if not isinstance(content, list):
            return "response has no content"
        if not all(isinstance(block, dict) for block in content):
            return "response content block is not an object"
        for block in content:
            if block.get("type") == "text" and not isinstance(block.get("text", ""), str):
                return "response text block holds no text"
        return usage_problem(response.get("usage"), ("input_tokens", "output_tokens"))

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
        return substitute_in_messages(body, old, new)

    def substitute_many(
        self, body: dict[str, Any], replacements: dict[str, str], known: Any = None
    ) -> dict[str, Any]:
        return substitute_many_in_messages(body, replacements, known)

    def notes(self, body: dict[str, Any]) -> list[str]:
        return []

    def with_params(self, body: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        return {**body, **values}

    def finalize(
        self, body: dict[str, Any], *, model: str | None, stream: bool | None
    ) -> dict[str, Any]:
        """The model and streaming choice of the replay, where this format keeps them."""
        return finalize_chat_like(body, model, stream)

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """The same request as an OpenAI chat completions body."""
        from core.formats.convert import anthropic_to_openai

        return anthropic_to_openai(body)

    def stream_assembler(self) -> AnthropicStream:
        """Fold Messages SSE events back into one message body."""
        return AnthropicStream()


class AnthropicStream:
    """Accumulates `message_start` / `content_block_*` / `message_delta` events."""

    def __init__(self) -> None:
        self.message: dict[str, Any] = {"type": "message", "role": "assistant", "content": []}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial_json: dict[int, str] = {}
        self.error: Any = None
        self.stopped = False

    def feed(self, event: Any) -> bool:
        """Take one parsed `data:` payload; True when it carried output (for time to first token)."""
        if not isinstance(event, dict):
            return False
        kind = event.get("type")
        if kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            self.error = event.get("error") or event
        elif kind == "message_start" and isinstance(event.get("message"), dict):
            start = dict(event["message"])
            start.pop("content", None)
            self.message.update(start)
        elif kind == "content_block_start":
            block = dict(event.get("content_block") or {})
            if block.get("type") == "tool_use":
                block["input"] = {}
            self.blocks[int(event.get("index", len(self.blocks)))] = block
            return bool(block.get("text")) or block.get("type") == "tool_use"
        elif kind == "content_block_delta":
            index = int(event.get("index", 0))
            delta = event.get("delta") or {}
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                block["text"] = str(block.get("text") or "") + str(delta.get("text") or "")
                return bool(delta.get("text"))
            if delta.get("type") == "thinking_delta":
                block["thinking"] = str(block.get("thinking") or "") + str(
                    delta.get("thinking") or ""
                )
                return False
            if delta.get("type") == "signature_delta":
                block["signature"] = str(block.get("signature") or "") + str(
                    delta.get("signature") or ""
                )
                return False
            if delta.get("type") == "input_json_delta":
                self.partial_json[index] = self.partial_json.get(index, "") + str(
                    delta.get("partial_json") or ""
                )
                return True
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            for key in ("stop_reason", "stop_sequence"):
                if key in delta:
                    self.message[key] = delta[key]
            if isinstance(event.get("usage"), dict):
                usage = dict(self.message.get("usage") or {})
                usage.update(event["usage"])
                self.message["usage"] = usage
        return False

    def end_marker(self) -> None:
        """Anthropic streams have no sentinel line; `message_stop` ends them."""

    def problem(self) -> str | None:
        if self.error is not None or self.stopped:
            return None
        return f"{STREAM_CUT} (no message_stop)"

    def body(self) -> dict[str, Any]:
        if self.error is not None:
            return {"type": "error", "error": self.error}
        blocks = []
        for index in sorted(self.blocks):
            block = dict(self.blocks[index])
            if index in self.partial_json:
                try:
                    block["input"] = json.loads(self.partial_json[index] or "{}")
                except ValueError:
                    block["input"] = {"_partial_json": self.partial_json[index]}
            blocks.append(block)
        return {**self.message, "content": blocks}


THINKING_BLOCKS = ("thinking", "redacted_thinking")
_UNDEFINED_RUN = re.compile(r"(\[REDACTED RESPONSE\])\s*(?:undefined)+")


def thinking_text(content: Any) -> str:
    """The thinking blocks of a content list; redacted ones are shown as a marker."""
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking":
            parts.append(str(block.get("thinking") or ""))
        elif block.get("type") == "redacted_thinking":
            parts.append("[redacted thinking]")
    return "\n".join(p for p in parts if p)


def clean_stream_artefacts(text: str) -> str:
    """Helicone writes `undefined` runs after `[REDACTED RESPONSE]` in some streamed rows."""
    return _UNDEFINED_RUN.sub(r"\1", text) if "[REDACTED RESPONSE]" in text else text


def _openai_shaped_output(response: dict[str, Any]) -> Output:
    """A response Helicone stored OpenAI-shaped, the Anthropic blocks as a JSON string."""
    from core.formats.openai import FORMAT as OPENAI

    output = OPENAI.output(response)
    if output.error is not None:
        return output
    choices = response.get("choices") or []
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    blocks: Any = None
    if isinstance(content, str) and content.lstrip().startswith("["):
        try:
            blocks = json.loads(content)
        except ValueError:
            blocks = None
    elif isinstance(content, list):
        blocks = content
    if not isinstance(blocks, list) or not all(
        isinstance(b, dict) and "type" in b for b in blocks
    ):
        return output.model_copy(update={"text": clean_stream_artefacts(output.text)})
    texts = [str(b.get("text") or "") for b in blocks if b.get("type") == "text"]
    calls = output.tool_calls + [_tool_call(b) for b in blocks if b.get("type") == "tool_use"]
    return output.model_copy(
        update={
            "text": clean_stream_artefacts("".join(texts)),
            "tool_calls": calls,
            "reasoning": thinking_text(blocks),
        }
    )


def _tool_call(block: dict[str, Any]) -> ToolCall:
    return ToolCall(
        id=str(block.get("id") or ""),
        name=str(block.get("name") or ""),
        arguments=json.dumps(block.get("input") or {}, sort_keys=True),
    )


FORMAT = AnthropicMessages()

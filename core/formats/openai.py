"""OpenAI chat completions (also Azure, Ollama, vLLM, llama.cpp, OpenRouter, Helicone's proxy)."""

from __future__ import annotations

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

SYSTEM_ROLES = ("system", "developer")


class OpenAIChat:
    name = "openai"
    default_path = "/v1/chat/completions"

    @tolerant(unexpected_messages)
    def messages(self, body: dict[str, Any]) -> list[Message]:
        return [m for raw in as_list(body.get("messages")) if (m := self.message_of(raw))]

    def message_of(self, raw: Any) -> Message | None:
        """One chat message, read on its own: it means the same wherever it stands, so a
        long conversation repeated in every request is read once (`core.replay.plan`)."""
        if not isinstance(raw, dict):
            return None
        return Message(
            role=str(raw.get("role") or "user"),
            text=content_text(raw.get("content")),
            tool_calls=_tool_calls(raw.get("tool_calls")),
            tool_call_id=raw.get("tool_call_id"),
            name=raw.get("name"),
        )

    @tolerant(no_texts)
    def system_prompts(self, body: dict[str, Any]) -> list[str]:
        return [m.text for m in self.messages(body) if m.role in SYSTEM_ROLES]

    @tolerant(no_texts)
    def tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in as_list(body.get("tools")) if isinstance(t, dict)]

    @tolerant(unexpected_output)
    def output(self, response: Any) -> Output:
        if not isinstance(response, dict):
            return Output(text="" if response is None else str(response))
        error = _error_text(response)
        if error is not None:
            return Output(error=error)
        choices = as_list(response.get("choices"))
        first = choices[0] if choices and isinstance(choices[0], dict) else {}
        # Helicone's consolidated stream keeps both `message` and `delta`; prefer `message`.
        message = first.get("message") or first.get("delta") or {}
        if not isinstance(message, dict):  # e.g. {"message": "hi"}: show what is there
            message = {"content": message if isinstance(message, str | list) else None}
        usage = as_dict(response.get("usage"))
        return Output(
            text=content_text(message.get("content")),
            tool_calls=_tool_calls(message.get("tool_calls")),
            prompt_tokens=usage.get("prompt_tokens") if isinstance(usage, dict) else None,
            completion_tokens=usage.get("completion_tokens") if isinstance(usage, dict) else None,
            finish_reason=first.get("finish_reason"),
        )

    def response_problem(self, response: Any) -> str | None:
        if not isinstance(response, dict):
            return "response is not a JSON object"
        if _error_text(response) is not None:
            return None
        choices = response.get("choices")
        if not isinstance(choices, list) or not choices:
            return "response has no choices"
        first = choices[0]
        if not isinstance(first, dict):
            return "response choice is not an object"
        message = first.get("message", first.get("delta"))
        if not isinstance(message, dict):
            return "response choice has no message"
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            return "response message content is neither text nor a list of parts"
        calls = message.get("tool_calls")
        if calls is not None and (not isinstance(calls, list)
                                  or not all(isinstance(c, dict) for c in calls)):
            return "response tool_calls is not a list of objects"
        return usage_problem(response.get("usage"), ("prompt_tokens", "completion_tokens"))

    def with_system(self, body: dict[str, Any], text: str, *, append: bool) -> dict[str, Any]:
        messages = list(body.get("messages") or [])
        found = False
        for index, message in enumerate(messages):
            if isinstance(message, dict) and message.get("role") in SYSTEM_ROLES:
                found = True
                current = content_text(message.get("content"))
                messages[index] = {**message, "content": current + text if append else text}
        if not found:
            messages.insert(0, {"role": "system", "content": text})
        return {**body, "messages": messages}

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
        return body

    def stream_assembler(self) -> OpenAIStream:
        """Fold `chat.completion.chunk` SSE events back into one completion body."""
        return OpenAIStream()


class OpenAIStream:
    """Accumulates streamed chunks: content deltas, tool-call fragments by index, usage."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.error: Any = None
        self.events = 0
        self.done = False

    def feed(self, event: Any) -> bool:
        """Take one parsed `data:` payload; True when it carried output (for time to first token)."""
        self.events += 1
        if not isinstance(event, dict):
            return False
        if "error" in event:
            self.error = event["error"]
            return False
        for key in ("id", "model", "created", "system_fingerprint"):
            if key in event and key not in self.meta:
                self.meta[key] = event[key]
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        got = False
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                self.text.append(delta["content"])
                got = True
            for call in delta.get("tool_calls") or []:
                if not isinstance(call, dict):
                    continue
                slot = self.calls.setdefault(
                    int(call.get("index", len(self.calls))),
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if call.get("id"):
                    slot["id"] = call["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
                got = True
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return got

    def end_marker(self) -> None:
        self.done = True

    def problem(self) -> str | None:
        """Complete means a finish reason or `[DONE]` arrived (an error event is an answer)."""
        if self.error is not None:
            return None
        if not self.events:
            return "the event stream carried no events"
        if self.finish_reason is None and not self.done:
            return f"{STREAM_CUT} (no finish_reason, no [DONE])"
        if self.usage is not None:
            return usage_problem(self.usage, ("prompt_tokens", "completion_tokens"))
        return None

    def body(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        body: dict[str, Any] = {
            **self.meta,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        }
        if self.usage is not None:
            body["usage"] = self.usage
        return body


def _tool_calls(raw: Any) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for item in as_list(raw):
        if not isinstance(item, dict):
            continue
        function = as_dict(item.get("function"))
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            import json

            arguments = json.dumps(arguments)
        calls.append(
            ToolCall(
                id=str(item.get("id") or ""),
                name=str(function.get("name") or ""),
                arguments=arguments,
            )
        )
    return calls


def _error_text(response: dict[str, Any]) -> str | None:
    error = response.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str) and error:
        return error
    if "helicone_error" in response:
        return str(response.get("helicone_error"))
    if "html_response" in response:
        return "HTML response from the provider"
    return None


FORMAT = OpenAIChat()

"""OpenAI Responses API (`/v1/responses`): `instructions`, typed `input` items, `output` items.

What the OpenAI Agents SDK and most new OpenAI code sends. A request carries `instructions`
(the system prompt) and `input`: a string, or items — messages with typed parts,
`function_call` / `function_call_output` pairs, `reasoning` items (summaries, encrypted
content) — and may continue an earlier response (`previous_response_id`), a stored
conversation (`conversation`) or a stored prompt (`prompt: {id, version, variables}`).
A response is an object whose `output` is a list of the same kind of items.

Helicone logs a streamed Responses call as its last event (`response.completed`, the full
response under `response`); a raw list of stream events is folded the same way.
"""

from __future__ import annotations

import json
from typing import Any

from core.formats import STREAM_CUT, Message, Output, ToolCall, replace_in_content
from core.formats.responses_items import (
    ResponsesConversation,
    call_of,
    is_call,
    items_to_messages,
    parts_text,
    reasoning_text,
)

SYSTEM_ROLES = ("system", "developer")
TERMINAL_EVENTS = ("response.completed", "response.failed", "response.incomplete")
_SAMPLING_KEYS = ("model", "temperature", "top_p", "stream", "user", "parallel_tool_calls")


class OpenAIResponses:
    name = "responses"
    default_path = "/v1/responses"
    # How agent replay splices replayed turns into input items (core.replay.conversation).
    conversation = ResponsesConversation()

    def matches(self, body: dict[str, Any], provider: str, url: str) -> bool:
        return is_responses_body(body) and not _is_embeddings(body, url)

    # -- reading a request ---------------------------------------------------------------
    def messages(self, body: dict[str, Any]) -> list[Message]:
        result: list[Message] = []
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            result.append(Message(role="system", text=instructions, name="instructions"))
        elif isinstance(instructions, list):  # a response object echoes them as items
            result.extend(items_to_messages(instructions))
        raw = body.get("input")
        if isinstance(raw, str):
            result.append(Message(role="user", text=raw))
        elif isinstance(raw, list):
            result.extend(items_to_messages(raw))
        return result

    def system_prompts(self, body: dict[str, Any]) -> list[str]:
        return [m.text for m in self.messages(body) if m.role in SYSTEM_ROLES]

    def tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in _list(body.get("tools")) if isinstance(t, dict)]

    def notes(self, body: dict[str, Any]) -> list[str]:
        """What the body refers to but does not contain: earlier responses, stored prompts."""
        notes: list[str] = []
        if isinstance(body.get("previous_response_id"), str):
            notes.append(f"continues response {body['previous_response_id']}")
        conversation = body.get("conversation")
        if isinstance(conversation, dict):
            conversation = conversation.get("id")
        if isinstance(conversation, str) and conversation:
            notes.append(f"continues stored conversation {conversation}")
        prompt = stored_prompt(body)
        if prompt is not None:
            text = f"stored prompt {prompt['id']}"
            if prompt.get("version"):
                text += f" version {prompt['version']}"
            variables = prompt.get("variables")
            if isinstance(variables, dict) and variables:
                shown = ", ".join(f"{k}={_short(v)}" for k, v in variables.items())
                text += f" with {shown}"
            notes.append(text)
        return notes

    # -- reading a response --------------------------------------------------------------
    def output(self, response: Any) -> Output:
        response = unwrap_response(response)
        if not isinstance(response, dict):
            return Output(text="" if response is None else str(response))
        error = _error_text(response)
        if error is not None:
            return Output(error=error)
        texts: list[str] = []
        reasoning: list[str] = []
        calls: list[ToolCall] = []
        for item in _list(response.get("output")):
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "message" or (kind is None and "content" in item):
                texts.append(parts_text(item.get("content")))
            elif kind == "reasoning":
                reasoning.append(reasoning_text(item))
            elif is_call(item):
                calls.append(call_of(item))
        text = "".join(texts)
        if not text and isinstance(response.get("output_text"), str):
            text = response["output_text"]
        raw_usage = response.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        status = response.get("status")
        finish = "tool_calls" if calls else status if isinstance(status, str) else None
        details = response.get("incomplete_details")
        if status == "incomplete" and isinstance(details, dict) and details.get("reason"):
            finish = f"incomplete: {details['reason']}"
        return Output(
            text=text,
            tool_calls=calls,
            reasoning="\n".join(r for r in reasoning if r),
            prompt_tokens=_int(usage.get("input_tokens")),
            completion_tokens=_int(usage.get("output_tokens")),
            finish_reason=finish,
        )

    def response_problem(self, response: Any) -> str | None:
        """Why a 200 answer is not a whole Responses object (error bodies are `output`'s)."""
        response = unwrap_response(response)
        if not isinstance(response, dict):
            return "response is not a JSON object"
        if _error_text(response) is not None:
            return None
        output = response.get("output")
        if not isinstance(output, list):
            return "response has no output"
        if not all(isinstance(item, dict) for item in output):
            return "response output item is not an object"
        if response.get("status") in ("queued", "in_progress"):
            return f"response is still {response['status']}"
        usage = response.get("usage")
        if usage is not None and not isinstance(usage, dict):
            return "response usage is not an object"
        for key in ("input_tokens", "output_tokens"):
            value = (usage or {}).get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                return f"response usage {key} is not a whole number"
        return None

    def response_id(self, response: Any) -> str | None:
        response = unwrap_response(response)
        if isinstance(response, dict) and isinstance(response.get("id"), str):
            return response["id"]
        return None

    def output_items(self, response: Any) -> list[dict[str, Any]]:
        """The response's output items as input items for a later request (chain inlining)."""
        response = unwrap_response(response)
        if not isinstance(response, dict):
            return []
        items = []
        for item in _list(response.get("output")):
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "message":
                items.append({
                    "type": "message", "role": "assistant",
                    "content": [
                        {"type": "output_text", "text": parts_text([p])}
                        for p in _list(item.get("content")) if isinstance(p, dict)
                    ],
                })
            elif kind == "function_call":
                items.append({k: item[k] for k in ("type", "call_id", "name", "arguments")
                              if k in item})
            elif kind == "reasoning" and item.get("encrypted_content"):
                # Without the id (the stored item may be gone) but with what the model needs.
                items.append({k: item[k] for k in ("type", "summary", "encrypted_content")
                              if k in item})
        return items

    # -- producing bodies ----------------------------------------------------------------
    def with_system(self, body: dict[str, Any], text: str, *, append: bool) -> dict[str, Any]:
        """Edit `instructions`; a body that puts its system prompt in input messages edits those."""
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            return {**body, "instructions": instructions + text if append else text}
        raw = body.get("input")
        if isinstance(raw, list):
            items = list(raw)
            found = False
            for index, item in enumerate(items):
                if isinstance(item, dict) and item.get("role") in SYSTEM_ROLES:
                    found = True
                    current = parts_text(item.get("content"))
                    items[index] = {**item, "content": current + text if append else text}
            if found:
                return {**body, "input": items}
        return {**body, "instructions": text}

    def with_params(self, body: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        result = dict(body)
        for key, value in values.items():
            result["max_output_tokens" if key == "max_tokens" else key] = value
        return result

    def substitute(self, body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
        return self.substitute_many(body, {old: new})

    def substitute_many(
        self, body: dict[str, Any], replacements: dict[str, str], known: Any = None
    ) -> dict[str, Any]:
        """Replace recorded outputs in the input (message parts, tool outputs), longest first."""
        if not replacements:
            return body
        ordered = sorted(replacements, key=len, reverse=True)

        def swap(content: Any) -> Any:
            for old in ordered:
                content = replace_in_content(content, old, replacements[old])
            return content

        raw = body.get("input")
        if isinstance(raw, str):
            new = swap(raw)
            return body if new is raw else {**body, "input": new}
        if not isinstance(raw, list):
            return body
        changed = False
        items = []
        for item in raw:
            if isinstance(item, dict):
                for key in ("content", "output"):
                    if key in item:
                        new = swap(item[key])
                        if new is not item[key]:
                            item = {**item, key: new}
                            changed = True
            items.append(item)
        return {**body, "input": items} if changed else body

    def finalize(
        self, body: dict[str, Any], *, model: str | None, stream: bool | None
    ) -> dict[str, Any]:
        result = dict(body)
        if model:
            result["model"] = model
        if stream is not None:
            result["stream"] = stream
        return result

    def stream_assembler(self) -> ResponsesStream:
        return ResponsesStream()

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """The same conversation as an OpenAI chat completions body (local model, Ollama…)."""
        messages: list[dict[str, Any]] = []
        for message in self.messages(body):
            if message.role == "tool":
                messages.append({"role": "tool", "tool_call_id": message.tool_call_id or "",
                                 "content": message.text})
            elif message.tool_calls:
                messages.append({
                    "role": "assistant", "content": message.text or None,
                    "tool_calls": [
                        {"id": c.id, "type": "function",
                         "function": {"name": c.name, "arguments": c.arguments or "{}"}}
                        for c in message.tool_calls
                    ],
                })
            elif message.text:
                role = message.role if message.role in ("system", "developer", "user",
                                                        "assistant") else "user"
                messages.append({"role": "system" if role == "developer" else role,
                                 "content": message.text})
        result: dict[str, Any] = {k: body[k] for k in _SAMPLING_KEYS if k in body}
        result["messages"] = messages
        if isinstance(body.get("max_output_tokens"), int):
            result["max_tokens"] = body["max_output_tokens"]
        if body.get("stream"):
            result["stream_options"] = {"include_usage": True}
        tools = [
            {"type": "function", "function": {
                k: v for k, v in (("name", t.get("name")), ("description", t.get("description")),
                                  ("parameters", t.get("parameters")
                                   or {"type": "object", "properties": {}})) if v
            }}
            for t in self.tools(body) if t.get("type") == "function" and t.get("name")
        ]
        if tools:
            result["tools"] = tools
            choice = body.get("tool_choice")
            if choice in ("auto", "none", "required"):
                result["tool_choice"] = choice
            elif isinstance(choice, dict) and choice.get("type") == "function":
                result["tool_choice"] = {"type": "function",
                                         "function": {"name": choice.get("name")}}
        return result


class ResponsesStream:
    """Folds Responses SSE events: output items by index, text and argument deltas, the end."""

    def __init__(self) -> None:
        self.response: dict[str, Any] = {}
        self.items: dict[int, dict[str, Any]] = {}
        self.final: dict[str, Any] | None = None
        self.error: Any = None

    def feed(self, event: Any) -> bool:
        if not isinstance(event, dict):
            return False
        kind = event.get("type")
        if kind == "error":
            self.error = event.get("error") or {"message": event.get("message") or "error"}
        elif kind in ("response.created", "response.in_progress"):
            if isinstance(event.get("response"), dict):
                self.response.update(event["response"])
        elif kind in TERMINAL_EVENTS:
            if isinstance(event.get("response"), dict):
                self.final = event["response"]
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = event.get("item")
            if isinstance(item, dict):
                index = int(event.get("output_index", len(self.items)))
                self.items[index] = dict(item)
                return kind == "response.output_item.added" and is_call(item)
        elif kind == "response.output_text.delta":
            item = self.items.setdefault(
                int(event.get("output_index", 0)),
                {"type": "message", "role": "assistant", "content": []},
            )
            parts = item.setdefault("content", [])
            index = int(event.get("content_index", 0))
            while len(parts) <= index:
                parts.append({"type": "output_text", "text": ""})
            parts[index] = {**parts[index], "text": str(parts[index].get("text") or "")
                            + str(event.get("delta") or "")}
            return bool(event.get("delta"))
        elif kind == "response.function_call_arguments.delta":
            item = self.items.setdefault(
                int(event.get("output_index", 0)), {"type": "function_call", "arguments": ""}
            )
            item["arguments"] = str(item.get("arguments") or "") + str(event.get("delta") or "")
            return True
        return False

    @property
    def complete(self) -> bool:
        return self.final is not None or self.error is not None

    def end_marker(self) -> None:
        """Responses streams end with `response.completed`, not a sentinel line."""

    def problem(self) -> str | None:
        return None if self.complete else f"{STREAM_CUT} (no response.completed)"

    def body(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        if self.final is not None:
            return self.final
        # No terminal event: what arrived, marked so the result is not mistaken for whole.
        return {**self.response, "object": "response", "status": "incomplete",
                "incomplete_details": {"reason": "stream ended before response.completed"},
                "output": [self.items[i] for i in sorted(self.items)]}


# -- helpers ----------------------------------------------------------------------------------
def unwrap_response(response: Any) -> Any:
    """The response object inside Helicone's stored stream forms (last event, event list)."""
    if isinstance(response, list):
        stream = ResponsesStream()
        for event in response:
            stream.feed(event)
        return stream.body()
    if not isinstance(response, dict):
        return response
    if isinstance(response.get("response"), dict) and str(response.get("type", "")).startswith(
        "response."
    ):
        return response["response"]
    if "output" not in response and isinstance(response.get("streamed_data"), list):
        return unwrap_response(response["streamed_data"])
    return response


def stored_prompt(body: dict[str, Any]) -> dict[str, Any] | None:
    prompt = body.get("prompt")
    if isinstance(prompt, dict) and isinstance(prompt.get("id"), str) and prompt["id"]:
        return prompt
    return None


def is_responses_body(body: dict[str, Any]) -> bool:
    """Shape of a Responses request: `input`/`instructions`/`prompt`, no chat `messages`."""
    if "messages" in body or "contents" in body:
        return False
    return (
        isinstance(body.get("input"), str | list)
        or isinstance(body.get("instructions"), str)
        or stored_prompt(body) is not None
        or isinstance(body.get("previous_response_id"), str)
    )


def _is_embeddings(body: dict[str, Any], url: str) -> bool:
    return "embedding" in (url or "").lower() or "embedding" in str(body.get("model", "")).lower()


def _error_text(response: dict[str, Any]) -> str | None:
    error = response.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    if isinstance(error, str) and error:
        return error
    if "helicone_error" in response:
        return str(response["helicone_error"])
    if response.get("status") == "failed":
        return "the response failed"
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


FORMAT = OpenAIResponses()

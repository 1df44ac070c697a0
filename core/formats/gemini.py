"""Google Gemini `generateContent` / `streamGenerateContent` (Google AI and Vertex AI).

The model and the method live in the URL (`…/models/gemini-2.0-flash:generateContent`,
Vertex: `…/publishers/google/models/…:streamGenerateContent?alt=sse`), not in the body. The
body carries `systemInstruction`, `contents` (role `user`/`model`, parts with `text`,
`functionCall`, `functionResponse`, `inlineData`), `tools` (`functionDeclarations`) and
`generationConfig`. The REST API accepts camelCase and snake_case field names; both are read.
A response has `candidates[].content.parts` and `usageMetadata`. Helicone logs a streamed call
as its chunks folded into one response; a raw list of chunks is folded the same way.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.formats import Message, Output
from core.formats.gemini_parts import (
    GeminiConversation,
    as_dict,
    as_int,
    as_list,
    content_messages,
    field,
    field_key,
    lower_types,
    pair_results,
    parts_text,
    split_parts,
)

_MODEL_IN_PATH = re.compile(r"/models/([^/:?]+):(generateContent|streamGenerateContent)")
_PARAM_KEYS = {
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxOutputTokens",
}


class Gemini:
    name = "gemini"
    # How agent replay splices replayed turns into `contents` (core.replay.conversation).
    conversation = GeminiConversation()
    default_path = "/v1beta/models/{model}:generateContent"

    def matches(self, body: dict[str, Any], provider: str, url: str) -> bool:
        return "messages" not in body and any(
            key in body for key in ("contents", "systemInstruction", "system_instruction")
        )

    # -- reading a request ---------------------------------------------------------------
    def messages(self, body: dict[str, Any]) -> list[Message]:
        result = [Message(role="system", text=t) for t in self.system_prompts(body)]
        for content in as_list(field(body, "contents")):
            if isinstance(content, dict):
                result.extend(content_messages(content))
        return pair_results(result)

    def system_prompts(self, body: dict[str, Any]) -> list[str]:
        system = field(body, "systemInstruction")
        if isinstance(system, str):
            return [system] if system else []
        if isinstance(system, dict):
            text = parts_text(field(system, "parts"))
            return [text] if text else []
        return []

    def tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """One entry per function declaration (plus built-in tools such as googleSearch)."""
        tools: list[dict[str, Any]] = []
        for tool in as_list(field(body, "tools")):
            if not isinstance(tool, dict):
                continue
            declarations = field(tool, "functionDeclarations")
            if isinstance(declarations, list):
                tools.extend(d for d in declarations if isinstance(d, dict))
            else:
                tools.append(tool)
        return tools

    def notes(self, body: dict[str, Any]) -> list[str]:
        cached = field(body, "cachedContent")
        return [f"uses cached content {cached}"] if isinstance(cached, str) and cached else []

    # -- reading a response --------------------------------------------------------------
    def output(self, response: Any) -> Output:
        response = fold_chunks(response)
        if not isinstance(response, dict):
            return Output(text="" if response is None else str(response))
        error = response.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else error
            return Output(error=str(message or error))
        if "helicone_error" in response:
            return Output(error=str(response["helicone_error"]))
        candidates = as_list(field(response, "candidates"))
        first = candidates[0] if candidates and isinstance(candidates[0], dict) else None
        usage = field(response, "usageMetadata")
        usage = usage if isinstance(usage, dict) else {}
        prompt_tokens = as_int(field(usage, "promptTokenCount"))
        completion_tokens = as_int(field(usage, "candidatesTokenCount"))
        if first is None:
            feedback = field(response, "promptFeedback")
            reason = field(feedback, "blockReason") if isinstance(feedback, dict) else None
            if reason:
                return Output(error=f"prompt blocked: {reason}", prompt_tokens=prompt_tokens)
            return Output(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        content = field(first, "content")
        parts = field(content, "parts") if isinstance(content, dict) else None
        text, reasoning, calls = split_parts(as_list(parts))
        finish = field(first, "finishReason")
        return Output(
            text=text,
            reasoning=reasoning,
            tool_calls=calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason="tool_calls" if calls else finish if isinstance(finish, str) else None,
        )

    def response_problem(self, response: Any) -> str | None:
        """Why a 200 answer is not a whole generateContent response (errors are `output`'s)."""
        response = fold_chunks(response)
        if not isinstance(response, dict):
            return "response is not a JSON object"
        if "error" in response or "helicone_error" in response:
            return None
        candidates = field(response, "candidates")
        if candidates is None:
            return None if field(response, "promptFeedback") else "response has no candidates"
        if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
            return "response candidates are not objects"
        usage = field(response, "usageMetadata")
        if usage is not None and not isinstance(usage, dict):
            return "response usageMetadata is not an object"
        for key in ("promptTokenCount", "candidatesTokenCount"):
            value = field(usage or {}, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                return f"response usageMetadata {key} is not a whole number"
        return None

    # -- producing bodies ----------------------------------------------------------------
    def with_system(self, body: dict[str, Any], text: str, *, append: bool) -> dict[str, Any]:
        key = field_key(body, "systemInstruction")
        system = body.get(key)
        if append:
            text = "\n".join(self.system_prompts(body)) + text
        if isinstance(system, dict):
            return {**body, key: {**system, field_key(system, "parts"): [{"text": text}]}}
        return {**body, key: {"parts": [{"text": text}]}}

    def with_params(self, body: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        config_key = field_key(body, "generationConfig")
        config = dict(as_dict(body.get(config_key)))
        result = dict(body)
        for key, value in values.items():
            if key == "model":
                result["model"] = value  # taken into the URL by `finalize`
            elif key in _PARAM_KEYS:
                config[field_key(config, _PARAM_KEYS[key])] = value
        if config:
            result[config_key] = config
        return result

    def substitute(self, body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
        return self.substitute_many(body, {old: new})

    def substitute_many(
        self, body: dict[str, Any], replacements: dict[str, str], known: Any = None
    ) -> dict[str, Any]:
        if not replacements:
            return body
        ordered = sorted(replacements, key=len, reverse=True)
        key = field_key(body, "contents")
        changed = False
        contents = []
        for content in as_list(body.get(key)):
            if isinstance(content, dict) and isinstance(content.get("parts"), list):
                parts = []
                for part in content["parts"]:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        text = part["text"]
                        for old in ordered:
                            if old in text:
                                text = text.replace(old, replacements[old])
                        if text != part["text"]:
                            part = {**part, "text": text}
                            changed = True
                    parts.append(part)
                content = {**content, "parts": parts}
            contents.append(content)
        return {**body, key: contents} if changed else body

    def finalize(
        self, body: dict[str, Any], *, model: str | None, stream: bool | None
    ) -> dict[str, Any]:
        """Gemini bodies carry neither the model nor `stream`: both travel in the URL."""
        return {k: v for k, v in body.items() if k not in ("model", "stream")}

    def stream_assembler(self) -> GeminiStream:
        return GeminiStream()

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """The same conversation as an OpenAI chat completions body."""
        messages: list[dict[str, Any]] = []
        pending: dict[str, list[str]] = {}  # unanswered call ids by function name
        count = 0
        for message in self.messages(body):
            if message.role == "tool":
                waiting = pending.get(message.name or "") or []
                call_id = message.tool_call_id or (waiting.pop(0) if waiting else "")
                messages.append({"role": "tool", "tool_call_id": call_id,
                                 "content": message.text})
            elif message.tool_calls:
                calls = []
                for call in message.tool_calls:
                    count += 1
                    call_id = call.id or f"call_{count}"
                    pending.setdefault(call.name, []).append(call_id)
                    calls.append({"id": call_id, "type": "function",
                                  "function": {"name": call.name,
                                               "arguments": call.arguments or "{}"}})
                messages.append({"role": "assistant", "content": message.text or None,
                                 "tool_calls": calls})
            elif message.text:
                messages.append({"role": message.role, "content": message.text})
        result: dict[str, Any] = {"messages": messages}
        if isinstance(body.get("model"), str):
            result["model"] = body["model"]
        config = field(body, "generationConfig")
        if isinstance(config, dict):
            for chat_key, camel in (("temperature", "temperature"), ("top_p", "topP"),
                                    ("max_tokens", "maxOutputTokens"), ("stop", "stopSequences")):
                value = field(config, camel)
                if value is not None:
                    result[chat_key] = value
        tools = []
        for declaration in self.tools(body):
            name = declaration.get("name")
            if not isinstance(name, str):
                continue
            function: dict[str, Any] = {"name": name}
            if declaration.get("description"):
                function["description"] = declaration["description"]
            schema = field(declaration, "parametersJsonSchema") or declaration.get("parameters")
            function["parameters"] = lower_types(schema) if isinstance(schema, dict) else {
                "type": "object", "properties": {}}
            tools.append({"type": "function", "function": function})
        if tools:
            result["tools"] = tools
        return result


class GeminiStream:
    """Folds `streamGenerateContent` chunks: text parts joined, function calls kept whole."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, Any]] = []
        self.error: Any = None

    def feed(self, event: Any) -> bool:
        if isinstance(event, list):  # without alt=sse the stream is one JSON array
            return any([self.feed(e) for e in event])
        if not isinstance(event, dict):
            return False
        if "error" in event:
            self.error = event["error"]
            return False
        self.chunks.append(event)
        text, _, calls = split_parts(_candidate_parts(event))
        return bool(text or calls)

    @property
    def complete(self) -> bool:
        return self.error is not None or any(
            isinstance(c, dict) and field(c, "finishReason")
            for chunk in self.chunks for c in as_list(field(chunk, "candidates"))
        )

    def end_marker(self) -> None:
        """Gemini streams end with a chunk carrying `finishReason`, not a sentinel line."""

    def problem(self) -> str | None:
        if self.complete:
            return None
        return "stream ended before the answer was complete (no finishReason)"

    def body(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        return merge_chunks(self.chunks)


# -- URLs -------------------------------------------------------------------------------------
def model_from_url(url: str | None) -> str | None:
    match = _MODEL_IN_PATH.search(url or "")
    return match.group(1) if match else None


def is_stream_url(url: str | None) -> bool:
    return ":streamGenerateContent" in (url or "")


def rewrite_url(url: str, *, model: str | None, stream: bool | None) -> str:
    """The recorded URL with another model and/or method (`alt=sse` for streams)."""
    parts = urlsplit(url)
    path = parts.path
    match = _MODEL_IN_PATH.search(path)
    if match is None:
        return url
    new_model = model or match.group(1)
    streaming = is_stream_url(url) if stream is None else stream
    method = "streamGenerateContent" if streaming else "generateContent"
    path = path[: match.start()] + f"/models/{new_model}:{method}" + path[match.end():]
    query = [q for q in parts.query.split("&") if q and not q.startswith(("alt=", "key="))]
    if streaming:
        query.append("alt=sse")
    return urlunsplit((parts.scheme, parts.netloc, path, "&".join(query), ""))


def is_gemini_url(url: str | None) -> bool:
    return _MODEL_IN_PATH.search(url or "") is not None


# -- helpers ----------------------------------------------------------------------------------
def fold_chunks(response: Any) -> Any:
    """A list of streamed chunks (or Helicone's `streamed_data`) as one response."""
    if isinstance(response, list):
        stream = GeminiStream()
        stream.feed(response)
        return stream.body()
    if isinstance(response, dict) and isinstance(response.get("streamed_data"), list):
        chunks = [c for c in response["streamed_data"] if isinstance(c, dict)]
        if chunks:
            return merge_chunks(chunks)
    return response


def merge_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """One response from stream chunks: the first candidate's parts in order, adjacent text
    parts joined; the last usage, finish reason and model version win."""
    if not chunks:
        return {"candidates": []}
    merged: dict[str, Any] = {k: v for k, v in chunks[0].items() if k != "candidates"}
    parts: list[dict[str, Any]] = []
    finish: Any = None
    role = "model"
    for chunk in chunks:
        for key in ("usageMetadata", "modelVersion", "responseId", "promptFeedback"):
            if key in chunk:
                merged[key] = chunk[key]
        candidates = as_list(field(chunk, "candidates"))
        first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        finish = field(first, "finishReason") or finish
        content = field(first, "content")
        if isinstance(content, dict):
            role = content.get("role") or role
        for part in _candidate_parts(chunk):
            last = parts[-1] if parts else None
            if (last is not None and set(part) == {"text"} and set(last) == {"text"}) or (
                last is not None and part.get("thought") and last.get("thought")
                and "text" in part and "text" in last
            ):
                parts[-1] = {**last, "text": str(last["text"]) + str(part["text"])}
            else:
                parts.append(dict(part))
    candidate: dict[str, Any] = {"content": {"role": role, "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    merged["candidates"] = [candidate]
    return merged


def _candidate_parts(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    candidates = as_list(field(chunk, "candidates"))
    first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    content = field(first, "content")
    parts = field(content, "parts") if isinstance(content, dict) else None
    return [p for p in as_list(parts) if isinstance(p, dict)]


FORMAT = Gemini()



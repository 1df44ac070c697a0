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

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.formats import Message, Output, ToolCall

_MODEL_IN_PATH = re.compile(r"/models/([^/:?]+):(generateContent|streamGenerateContent)")
_PARAM_KEYS = {
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxOutputTokens",
}


def _get(mapping: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase name or its snake_case twin."""
    if camel in mapping:
        return mapping[camel]
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return mapping.get(snake)


def _key(mapping: dict[str, Any], camel: str) -> str:
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return snake if snake in mapping and camel not in mapping else camel


class Gemini:
    name = "gemini"
    default_path = "/v1beta/models/{model}:generateContent"

    def matches(self, body: dict[str, Any], provider: str, url: str) -> bool:
        return "messages" not in body and any(
            key in body for key in ("contents", "systemInstruction", "system_instruction")
        )

    # -- reading a request ---------------------------------------------------------------
    def messages(self, body: dict[str, Any]) -> list[Message]:
        result = [Message(role="system", text=t) for t in self.system_prompts(body)]
        for content in _list(_get(body, "contents")):
            if isinstance(content, dict):
                result.extend(_content_messages(content))
        return result

    def system_prompts(self, body: dict[str, Any]) -> list[str]:
        system = _get(body, "systemInstruction")
        if isinstance(system, str):
            return [system] if system else []
        if isinstance(system, dict):
            text = _parts_text(_get(system, "parts"))
            return [text] if text else []
        return []

    def tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """One entry per function declaration (plus built-in tools such as googleSearch)."""
        tools: list[dict[str, Any]] = []
        for tool in _list(_get(body, "tools")):
            if not isinstance(tool, dict):
                continue
            declarations = _get(tool, "functionDeclarations")
            if isinstance(declarations, list):
                tools.extend(d for d in declarations if isinstance(d, dict))
            else:
                tools.append(tool)
        return tools

    def notes(self, body: dict[str, Any]) -> list[str]:
        cached = _get(body, "cachedContent")
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
        candidates = _list(_get(response, "candidates"))
        first = candidates[0] if candidates and isinstance(candidates[0], dict) else None
        usage = _get(response, "usageMetadata")
        usage = usage if isinstance(usage, dict) else {}
        prompt_tokens = _int(_get(usage, "promptTokenCount"))
        completion_tokens = _int(_get(usage, "candidatesTokenCount"))
        if first is None:
            feedback = _get(response, "promptFeedback")
            reason = _get(feedback, "blockReason") if isinstance(feedback, dict) else None
            if reason:
                return Output(error=f"prompt blocked: {reason}", prompt_tokens=prompt_tokens)
            return Output(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        content = _get(first, "content")
        parts = _get(content, "parts") if isinstance(content, dict) else None
        text, reasoning, calls = _split_parts(_list(parts))
        finish = _get(first, "finishReason")
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
        candidates = _get(response, "candidates")
        if candidates is None:
            return None if _get(response, "promptFeedback") else "response has no candidates"
        if not isinstance(candidates, list) or not all(isinstance(c, dict) for c in candidates):
            return "response candidates are not objects"
        usage = _get(response, "usageMetadata")
        if usage is not None and not isinstance(usage, dict):
            return "response usageMetadata is not an object"
        for key in ("promptTokenCount", "candidatesTokenCount"):
            value = _get(usage or {}, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                return f"response usageMetadata {key} is not a whole number"
        return None

    # -- producing bodies ----------------------------------------------------------------
    def with_system(self, body: dict[str, Any], text: str, *, append: bool) -> dict[str, Any]:
        key = _key(body, "systemInstruction")
        system = body.get(key)
        if append:
            text = "\n".join(self.system_prompts(body)) + text
        if isinstance(system, dict):
            return {**body, key: {**system, _key(system, "parts"): [{"text": text}]}}
        return {**body, key: {"parts": [{"text": text}]}}

    def with_params(self, body: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        config_key = _key(body, "generationConfig")
        config = dict(_dict(body.get(config_key)))
        result = dict(body)
        for key, value in values.items():
            if key == "model":
                result["model"] = value  # taken into the URL by `finalize`
            elif key in _PARAM_KEYS:
                config[_key(config, _PARAM_KEYS[key])] = value
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
        key = _key(body, "contents")
        changed = False
        contents = []
        for content in _list(body.get(key)):
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
        config = _get(body, "generationConfig")
        if isinstance(config, dict):
            for chat_key, camel in (("temperature", "temperature"), ("top_p", "topP"),
                                    ("max_tokens", "maxOutputTokens"), ("stop", "stopSequences")):
                value = _get(config, camel)
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
            schema = _get(declaration, "parametersJsonSchema") or declaration.get("parameters")
            function["parameters"] = _lower_types(schema) if isinstance(schema, dict) else {
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
        text, _, calls = _split_parts(_candidate_parts(event))
        return bool(text or calls)

    @property
    def complete(self) -> bool:
        return self.error is not None or any(
            isinstance(c, dict) and _get(c, "finishReason")
            for chunk in self.chunks for c in _list(_get(chunk, "candidates"))
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
        candidates = _list(_get(chunk, "candidates"))
        first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        finish = _get(first, "finishReason") or finish
        content = _get(first, "content")
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
    candidates = _list(_get(chunk, "candidates"))
    first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    content = _get(first, "content")
    parts = _get(content, "parts") if isinstance(content, dict) else None
    return [p for p in _list(parts) if isinstance(p, dict)]


def _content_messages(content: dict[str, Any]) -> list[Message]:
    role = "assistant" if content.get("role") == "model" else str(content.get("role") or "user")
    parts = [p for p in _list(_get(content, "parts")) if isinstance(p, dict)]
    responses = [p for p in parts if _get(p, "functionResponse") is not None]
    messages = [
        Message(role="tool", text=_json(_get(r, "functionResponse").get("response")),
                tool_call_id=_call_id(_get(r, "functionResponse")),
                name=str(_get(r, "functionResponse").get("name") or "") or None)
        for r in responses if isinstance(_get(r, "functionResponse"), dict)
    ]
    text, reasoning, calls = _split_parts([p for p in parts if p not in responses])
    if text or reasoning or calls:
        messages.append(Message(role=role, text=text, reasoning=reasoning, tool_calls=calls))
    return messages


def _split_parts(parts: list[Any]) -> tuple[str, str, list[ToolCall]]:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        call = _get(part, "functionCall")
        if isinstance(call, dict):
            calls.append(ToolCall(id=_call_id(call) or "", name=str(call.get("name") or ""),
                                  arguments=json.dumps(call.get("args") or {}, sort_keys=True)))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
        elif _get(part, "inlineData") is not None or _get(part, "fileData") is not None:
            texts.append("[file]")
        elif _get(part, "executableCode") is not None:
            texts.append(str(_dict(_get(part, "executableCode")).get("code") or ""))
        elif _get(part, "codeExecutionResult") is not None:
            texts.append(str(_dict(_get(part, "codeExecutionResult")).get("output") or ""))
    return "".join(texts), "".join(thoughts), calls


def _parts_text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "\n".join(
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def _call_id(call: dict[str, Any]) -> str | None:
    """Gemini ids function calls only sometimes; the name stands in for pairing otherwise."""
    value = call.get("id")
    return str(value) if value else None


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI subset spells types in capitals (`STRING`); JSON Schema wants lower."""
    if isinstance(schema, dict):
        return {
            k: v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


FORMAT = Gemini()


class GeminiConversation:
    """How agent replay splices replayed turns into Gemini `contents`."""

    def raw_messages(self, body: dict[str, Any]) -> list[Any]:
        return list(_list(_get(body, "contents")))

    def with_messages(self, body: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
        return {**body, _key(body, "contents"): messages}

    def calls_in(self, message: Any) -> list[ToolCall]:
        if not isinstance(message, dict) or message.get("role") != "model":
            return []
        return _split_parts(_list(_get(message, "parts")))[2]

    def answers_in(self, message: Any) -> tuple[list[str], Any | None]:
        if not isinstance(message, dict) or message.get("role") == "model":
            return [], message
        parts = [p for p in _list(_get(message, "parts")) if isinstance(p, dict)]
        answers = [p for p in parts if isinstance(_get(p, "functionResponse"), dict)]
        if not answers:
            return [], message
        ids = [_call_id(_get(p, "functionResponse")) or "" for p in answers]
        rest = [p for p in parts if p not in answers]
        return ids, ({**message, "parts": rest} if rest else None)

    def render(self, exchange: Any, tail: list[Any]) -> list[Any]:
        parts: list[dict[str, Any]] = [{"text": exchange.text}] if exchange.text else []
        for call in exchange.calls:
            function: dict[str, Any] = {"name": call.name, "args": _object(call.arguments)}
            if call.id:
                function["id"] = call.id
            parts.append({"functionCall": function})
        answers: list[dict[str, Any]] = []
        for result in exchange.results:
            value = _object(result.content or "")
            response: dict[str, Any] = {"name": result.name,
                                        "response": {"error": value} if result.is_error
                                        else value}
            if result.call_id:
                response["id"] = result.call_id
            answers.append({"functionResponse": response})
        rest = list(tail)
        # Roles alternate: text a person added after the results joins the same user turn.
        if rest and isinstance(rest[0], dict) and rest[0].get("role", "user") == "user":
            answers.extend(_list(rest.pop(0).get("parts")))
        return [{"role": "model", "parts": parts}, {"role": "user", "parts": answers}, *rest]


def _object(text: str) -> dict[str, Any]:
    """A tool result or arguments as the JSON object Gemini's Struct fields need."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


FORMAT.conversation = GeminiConversation()  # type: ignore[attr-defined]

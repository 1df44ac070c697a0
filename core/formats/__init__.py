"""Wire formats behind one small protocol, so adding a provider means adding one module.

A format reads a recorded body (messages, system prompts, tools), reads a response (output
text, tool calls, errors, usage) and produces edited copies of a body for replay. It never
mutates what it is given.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, Field


# Readers take whatever a store holds: values of the wrong type are shown as text (or, for
# token counts, as unknown) instead of failing the whole request.
def _as_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return type(value).__name__


def _as_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if 0 <= value < 2**63 else None


AnyText = Annotated[str, BeforeValidator(lambda v: "" if v is None else _as_text(v))]
MaybeText = Annotated[str | None, BeforeValidator(_as_text)]
MaybeCount = Annotated[int | None, BeforeValidator(_as_count)]

if TYPE_CHECKING:
    from core.models import LoggedRequest


class ToolCall(BaseModel):
    id: AnyText = ""
    name: AnyText = ""
    arguments: AnyText = ""  # JSON text as sent on the wire


class Message(BaseModel):
    role: AnyText  # system | developer | user | assistant | tool
    text: AnyText = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: MaybeText = None
    name: MaybeText = None
    reasoning: AnyText = ""  # thinking / reasoning summaries shown beside the text, never replaced


class Output(BaseModel):
    """What a response said: text, tool calls, or an error, plus token usage."""

    text: AnyText = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    error: MaybeText = None
    reasoning: AnyText = ""
    prompt_tokens: MaybeCount = None
    completion_tokens: MaybeCount = None
    finish_reason: MaybeText = None


F = TypeVar("F", bound=Callable[..., Any])


def tolerant(fallback: Callable[[BaseException], Any]) -> Callable[[F], F]:
    """A reader that never raises on a stored or live body of an unexpected shape.

    The formats read what is there; anything they did not foresee ends in `fallback`
    (e.g. an Output whose error says the shape was unexpected) instead of a traceback.
    """

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def safe(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
                return fallback(exc)

        return safe  # type: ignore[return-value]

    return wrap


def unexpected_output(exc: BaseException) -> Output:
    return Output(error=f"the response has an unexpected shape ({_reason(exc)})")


def unexpected_messages(exc: BaseException) -> list[Message]:
    return [Message(role="?", text=f"(the messages have an unexpected shape: {_reason(exc)})")]


def no_texts(exc: BaseException) -> list[Any]:
    return []


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return type(exc).__name__


def as_list(value: Any) -> list[Any]:
    """A JSON array as a list; anything else (object, text, number) as no items."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class StreamAssembler(Protocol):
    """Folds a provider's server-sent events back into one response body."""

    def feed(self, event: Any) -> bool:
        """Take one parsed `data:` payload; True when it carried output (time to first token)."""
        ...

    def end_marker(self) -> None:
        """The stream's non-JSON end sentinel arrived (OpenAI's `data: [DONE]`)."""
        ...

    def body(self) -> dict[str, Any]: ...

    def problem(self) -> str | None:
        """After the stream closed: why the answer is not complete, or None when it is."""
        ...


STREAM_CUT = "stream ended before the answer was complete"


class Format(Protocol):
    """A wire format. The completeness check lives here, one per format: `response_problem`
    for a whole body and `stream_assembler().problem()` for a stream; the engine calls them and
    records a failure with their reason instead of a result."""

    name: str
    default_path: str

    def response_problem(self, response: Any) -> str | None:
        """Why a 200 response is not a complete answer of this format's shape, or None.

        Error bodies are not problems here: `output()` reports them as errors."""
        ...

    def stream_assembler(self) -> StreamAssembler: ...

    def messages(self, body: dict[str, Any]) -> list[Message]: ...

    def system_prompts(self, body: dict[str, Any]) -> list[str]: ...

    def tools(self, body: dict[str, Any]) -> list[dict[str, Any]]: ...

    def output(self, response: Any) -> Output: ...

    def with_system(self, body: dict[str, Any], text: str, *, append: bool) -> dict[str, Any]: ...

    def substitute(self, body: dict[str, Any], old: str, new: str) -> dict[str, Any]: ...

    def substitute_many(
        self, body: dict[str, Any], replacements: dict[str, str], known: Any = None
    ) -> dict[str, Any]: ...

    def notes(self, body: dict[str, Any]) -> list[str]:
        """What the body refers to without containing it (stored prompts, earlier responses)."""
        ...

    def with_params(self, body: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """Sampling edits (model, temperature, top_p, max_tokens) in this format's fields."""
        ...

    def finalize(
        self, body: dict[str, Any], *, model: str | None, stream: bool | None
    ) -> dict[str, Any]: ...

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """The same conversation as an OpenAI chat completions body (for compatible targets)."""
        ...


FORMAT_NAMES = ("openai", "anthropic", "responses", "gemini")


def usage_problem(usage: Any, fields: tuple[str, ...]) -> str | None:
    """Token counts must be whole non-negative numbers when a response reports them."""
    if usage is None:
        return None
    if not isinstance(usage, dict):
        return "response usage is not an object"
    for field in fields:
        value = usage.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            return f"response usage {field} is not a whole number"
    return None


def format_named(name: str) -> Format:
    from core.formats import anthropic, gemini, openai, responses

    formats: dict[str, Format] = {
        "openai": openai.FORMAT,
        "anthropic": anthropic.FORMAT,
        "responses": responses.FORMAT,
        "gemini": gemini.FORMAT,
    }
    try:
        return formats[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}") from None


# -- the one place that decides what a logged request is --------------------------------------
# `detect_format` is the registry: a new wire format is one module (FORMAT_NAMES,
# `format_named`) and one rule here. Readers of stored requests use `request_format`,
# `recorded_output` and `replay_blocker` below, so every screen, export and command reads a
# request the same way (same URL, same properties).


def detect_format(body: Any, provider: str = "", url: str | None = None) -> Format | None:
    """Pick the wire format from the body's shape first, then the URL and provider."""
    from core.formats import anthropic, gemini, openai, responses

    if not isinstance(body, dict):
        return None
    raw_url = url or ""
    url = raw_url.lower()
    provider = provider.lower()
    if ("/messages" in url or provider == "anthropic") and "messages" in body:
        return anthropic.FORMAT
    if "messages" in body:
        if "system" in body and not any(
            isinstance(m, dict) and m.get("role") == "system" for m in as_list(body["messages"])
        ):
            return anthropic.FORMAT
        if "max_tokens" in body and "anthropic" in url:
            return anthropic.FORMAT
        return openai.FORMAT
    if "contents" in body or "systemInstruction" in body or "system_instruction" in body:
        return gemini.FORMAT
    if is_embeddings(body, url):
        return None
    if responses.is_responses_body(body):
        return responses.FORMAT
    return None


def is_embeddings(body: dict[str, Any], url: str | None) -> bool:
    lowered = (url or "").lower()
    return "embedding" in lowered or "embedding" in str(body.get("model", "")).lower()


def not_replayable_reason(
    request_body: Any,
    provider: str = "",
    url: str | None = None,
    body_state: str = "full",
    *,
    properties: dict[str, str] | None = None,
) -> str | None:
    """Why a recorded request cannot be replayed, or None when it can.

    An importer that knew why (e.g. a trace recorded without message content) says so in the
    `reprise.not_replayable` property, which wins.
    """
    if properties and properties.get("reprise.not_replayable"):
        return properties["reprise.not_replayable"]
    if body_state == "preview":
        return "only a text preview of the body was logged; pull the full body first"
    if request_body is None or body_state == "missing":
        return "the request body was not logged"
    if not isinstance(request_body, dict):
        return "the request body is not a JSON object"
    if "input" in request_body and "messages" not in request_body and is_embeddings(
        request_body, url
    ):
        return "embeddings requests have no text output to compare"
    if detect_format(request_body, provider, url) is None:
        keys = ", ".join(sorted(map(str, request_body))[:8]) or "none"
        return (
            f"unknown request format for provider {provider or 'unknown'}"
            f" (body keys: {keys}); it is shown as JSON and cannot be replayed"
        )
    if "messages" in request_body and not isinstance(request_body["messages"], list):
        return "the request's `messages` is not a list"
    return None


def request_url(request: LoggedRequest) -> str | None:
    """The URL a logged request was sent to: the logged path, else the provider target."""
    return request.request_url or request.target_url


def request_format(request: LoggedRequest) -> Format | None:
    """The wire format of a logged request (None: not a format reprise can read)."""
    return detect_format(request.request_body, request.provider, request_url(request))


def recorded_output(request: LoggedRequest) -> Output:
    """What a logged request answered: text, tool calls, error and usage, as recorded.

    The report, the evaluations, the replay plan and the app all read recorded answers here,
    so they never disagree. A request in no known format answered nothing readable.
    """
    fmt = request_format(request)
    return fmt.output(request.response_body) if fmt is not None else Output()


def replay_blocker(request: LoggedRequest) -> str | None:
    """Why a logged request cannot be replayed, or None when it can."""
    return not_replayable_reason(
        request.request_body, request.provider, request_url(request), request.body_state,
        properties=request.properties,
    )


def content_text(content: Any) -> str:
    """Flatten a message content (string, or list of typed parts) into its text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif part.get("type") == "tool_result":
                    parts.append(content_text(part.get("content")))
                elif part.get("type") in {"image_url", "image", "input_image"}:
                    parts.append("[image]")
        return "\n".join(p for p in parts if p)
    return str(content)


def replace_in_content(content: Any, old: str, new: str) -> Any:
    """Return content with `old` replaced by `new` in every text part (copying as needed)."""
    if isinstance(content, str):
        return content.replace(old, new) if old in content else content
    if isinstance(content, list):
        changed = False
        result = []
        for part in content:
            updated = part
            if isinstance(part, dict):
                if isinstance(part.get("text"), str) and old in part["text"]:
                    updated = {**part, "text": part["text"].replace(old, new)}
                elif part.get("type") == "tool_result" and "content" in part:
                    inner = replace_in_content(part["content"], old, new)
                    if inner is not part["content"]:
                        updated = {**part, "content": inner}
            elif isinstance(part, str) and old in part:
                updated = part.replace(old, new)
            changed = changed or updated is not part
            result.append(updated)
        return result if changed else content
    return content


def substitute_in_messages(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """Replace `old` by `new` in every message's text; the same body when nothing matched.

    OpenAI and Anthropic both keep conversation text in `messages[].content`, so one walk
    serves both formats.
    """
    updated = []
    changed = False
    for message in as_list(body.get("messages")):
        if isinstance(message, dict) and "content" in message:
            content = replace_in_content(message["content"], old, new)
            if content is not message["content"]:
                message = {**message, "content": content}
                changed = True
        updated.append(message)
    return {**body, "messages": updated} if changed else body


def finalize_chat_like(body: dict[str, Any], model: str | None, stream: bool | None) -> dict[str, Any]:
    """Set the replay's model and streaming choice in a body that keeps both at its top level."""
    result = dict(body)
    if model:
        result["model"] = model
    if stream is not None:
        result["stream"] = stream
        if not stream:
            result.pop("stream_options", None)
    return result


def substitute_many_in_messages(
    body: dict[str, Any],
    replacements: dict[str, str],
    known: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Apply several replacements (longest first) in one walk over the messages.

    `known` maps a message's text to the strings already found in it (the replay plan's
    index), so only those are tried there; other messages try every replacement.
    """
    if not replacements:
        return body
    ordered = sorted(replacements, key=len, reverse=True)
    updated = []
    changed = False
    for message in as_list(body.get("messages")):
        if isinstance(message, dict) and "content" in message:
            content = message["content"]
            candidates = ordered
            hits = known.get(content_text(content)) if known is not None else None
            if hits is not None:
                present = set(hits)
                candidates = [old for old in ordered if old in present]
            new_content = content
            for old in candidates:
                new_content = replace_in_content(new_content, old, replacements[old])
            if new_content is not content:
                message = {**message, "content": new_content}
                changed = True
        updated.append(message)
    return {**body, "messages": updated} if changed else body


def request_label(request: LoggedRequest) -> str:
    """A short name for a request shown on its own (no session): what it asked, else where."""
    body = request.request_body
    fmt = request_format(request)
    text = ""
    if fmt is not None:
        asked = [m.text for m in fmt.messages(body) if m.role == "user" and m.text.strip()]
        text = asked[-1] if asked else ""
    if not text:
        from urllib.parse import urlsplit

        url = getattr(request, "target_url", None) or getattr(request, "request_url", None) or ""
        text = urlsplit(url).path if url.startswith(("http://", "https://")) else url
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59] + "…"

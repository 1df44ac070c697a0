"""The replayed conversation of an agent branch, and how it is written into a request body.

An agent session is a chain of requests: each one carries the previous request's assistant
turn (its tool calls) and the tool results, then asks again. In a chained replay the turns
the *replayed* model made replace the recorded ones, each with a result from the tool
environment. This module is pure: it holds those exchanges and splices them into a recorded
body in place of the recorded exchanges, keeping everything around them (system prompt,
the user's question, messages a person added between rounds).

A wire format plugs in with a `ConversationCodec`: where its messages live, which tool calls
a message makes, which calls a message answers, and how to write one exchange.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from core.formats import ToolCall
from core.formats.anthropic import _tool_call
from core.formats.openai import _tool_calls

# Where a tool result came from: the recording, a rule, or the person running the replay.
# "stop" marks a call still waiting for a result.
ResultSource = Literal[
    "recorded", "error", "stub", "nearest", "exec", "mcp", "llm", "user", "stop"
]
RULE_SOURCES = frozenset({"error", "stub", "nearest", "exec", "mcp", "llm"})
EXECUTED_SOURCES = frozenset({"exec", "mcp", "llm"})


class ToolResult(BaseModel):
    """The result one replayed tool call received (or still waits for)."""

    call_id: str
    name: str
    arguments: str = ""
    source: ResultSource
    content: str | None = None  # None while the call waits for a result
    is_error: bool = False
    recorded_call_id: str | None = None  # the recorded call whose result was reused

    @property
    def pending(self) -> bool:
        return self.content is None


class Exchange(BaseModel):
    """One replayed assistant turn with tool calls, and the results given to them.

    `recorded_id` is the recorded request whose turn this one stands in for (its recorded
    tool calls are what the splice looks for in later bodies); None for turns the engine
    added beyond the recording.
    """

    recorded_id: str | None = None
    text: str = ""
    calls: list[ToolCall] = Field(default_factory=list)
    results: list[ToolResult] = Field(default_factory=list)


class ConversationCodec(Protocol):
    """What a wire format tells the splice about its messages. A codec may also offer
    `call_keys(message)`, the keys of `calls_in(message)` read without building calls."""

    def raw_messages(self, body: dict[str, Any]) -> list[Any]: ...

    def with_messages(self, body: dict[str, Any], messages: list[Any]) -> dict[str, Any]: ...

    def calls_in(self, message: Any) -> list[ToolCall]:
        """The tool calls an assistant message makes ([] for any other message)."""
        ...

    def answers_in(self, message: Any) -> tuple[list[str], Any | None]:
        """The call ids a message answers, and what is left of it besides those answers."""
        ...

    def render(self, exchange: Exchange, tail: list[Any]) -> list[Any]:
        """The exchange as messages, followed by `tail` (merged where the format needs it);
        the first message is the assistant turn (the splice leaves it out where the turn
        lives in a stored response)."""
        ...


class _MessagesList:
    """Bodies whose conversation is a top-level `messages` list (chat and Anthropic)."""

    def raw_messages(self, body: dict[str, Any]) -> list[Any]:
        return list(body.get("messages") or [])

    def with_messages(self, body: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
        return {**body, "messages": messages}


class OpenAIChatCodec(_MessagesList):
    """`tool_calls` on the assistant message, one `tool` message per result."""

    def calls_in(self, message: Any) -> list[ToolCall]:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            return []
        return _tool_calls(message.get("tool_calls"))

    def call_keys(self, message: Any) -> set[str]:
        """`_keys(self.calls_in(message))` read straight from the dicts: the splice asks it of
        every message of every round, so a long agent loop must not build objects for it."""
        if not isinstance(message, dict) or message.get("role") != "assistant":
            return set()
        raw = message.get("tool_calls")
        if not isinstance(raw, list):
            return set()
        keys = set()
        for call in raw:
            call_id = call.get("id") if isinstance(call, dict) else None
            if not isinstance(call_id, str) or not call_id:
                return _keys(self.calls_in(message))
            keys.add("id:" + call_id)
        return keys

    def answers_in(self, message: Any) -> tuple[list[str], Any | None]:
        if isinstance(message, dict) and message.get("role") == "tool":
            return [str(message.get("tool_call_id") or "")], None
        return [], message

    def render(self, exchange: Exchange, tail: list[Any]) -> list[Any]:
        assistant: dict[str, Any] = {
            "role": "assistant",
            "content": exchange.text or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments or "{}"},
                }
                for call in exchange.calls
            ],
        }
        results = [
            {"role": "tool", "tool_call_id": r.call_id, "content": r.content or ""}
            for r in exchange.results
        ]
        return [assistant, *results, *tail]


class AnthropicCodec(_MessagesList):
    """`tool_use` blocks in the assistant turn, `tool_result` blocks in the next user turn."""

    def calls_in(self, message: Any) -> list[ToolCall]:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            return []
        content = message.get("content")
        if not isinstance(content, list):
            return []
        return [
            _tool_call(b) for b in content if isinstance(b, dict) and b.get("type") == "tool_use"
        ]

    def answers_in(self, message: Any) -> tuple[list[str], Any | None]:
        if not isinstance(message, dict) or message.get("role") != "user":
            return [], message
        content = message.get("content")
        if not isinstance(content, list):
            return [], message
        ids = [
            str(b.get("tool_use_id") or "")
            for b in content
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        if not ids:
            return [], message
        rest = [b for b in content if not (isinstance(b, dict) and b.get("type") == "tool_result")]
        return ids, ({**message, "content": rest} if rest else None)

    def render(self, exchange: Exchange, tail: list[Any]) -> list[Any]:
        blocks: list[dict[str, Any]] = []
        if exchange.text:
            blocks.append({"type": "text", "text": exchange.text})
        for call in exchange.calls:
            blocks.append(
                {"type": "tool_use", "id": call.id, "name": call.name,
                 "input": arguments_object(call.arguments)}
            )
        results: list[Any] = []
        for r in exchange.results:
            block: dict[str, Any] = {
                "type": "tool_result", "tool_use_id": r.call_id, "content": r.content or ""
            }
            if r.is_error:
                block["is_error"] = True
            results.append(block)
        rest = list(tail)
        # Roles alternate: text a person added after the results joins the same user turn.
        if rest and isinstance(rest[0], dict) and rest[0].get("role") == "user":
            first = rest.pop(0)
            extra = first.get("content")
            extra_blocks = extra if isinstance(extra, list) else [{"type": "text", "text": extra}]
            results.extend(extra_blocks)
        return [{"role": "assistant", "content": blocks}, {"role": "user", "content": results},
                *rest]


_CODECS: dict[str, ConversationCodec] = {
    "openai": OpenAIChatCodec(),
    "anthropic": AnthropicCodec(),
}


def codec_for(format_name: str) -> ConversationCodec | None:
    """The codec of a format: its module's `conversation` attribute, else a built-in one."""
    from core.formats import format_named

    try:
        fmt = format_named(format_name)
    except ValueError:
        fmt = None
    own = getattr(fmt, "conversation", None)
    return own if own is not None else _CODECS.get(format_name)


def arguments_object(arguments: str) -> dict[str, Any]:
    """Tool-call arguments as the JSON object Anthropic's `input` needs."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {"_arguments": arguments}
    return value if isinstance(value, dict) else {"_arguments": value}


def _keys(calls: list[ToolCall]) -> set[str]:
    """Calls by id, or by name and arguments when they have none (as the plan links them)."""
    keys = set()
    for call in calls:
        if call.id:
            keys.add("id:" + call.id)
        else:
            try:
                args = json.dumps(json.loads(call.arguments or "{}"), sort_keys=True)
            except ValueError:
                args = call.arguments
            keys.add("fn:" + call.name + ":" + args)
    return keys


def splice(
    codec: ConversationCodec,
    body: dict[str, Any],
    chain: list[list[ToolCall]],
    exchanges: list[Exchange],
) -> dict[str, Any] | None:
    """`body` with its recorded exchanges replaced by the replayed ones.

    `chain` lists, in order, the recorded tool calls of the branch requests whose turns appear
    in `body`; `exchanges[:len(chain)]` replace them one for one, later exchanges (turns
    beyond the recording) are appended. Messages around the recorded exchanges stay where
    they were. An exchange whose assistant turn is not in `body` but whose answers are (a
    Responses API round continuing a stored response) has only its answers replaced; one
    absent altogether (a turn the application dropped from its history, or one a stored
    response already holds) stays absent. None when no recorded exchange is in `body`.
    """
    messages = codec.raw_messages(body)
    if len(exchanges) < len(chain) or any(r.pending for e in exchanges for r in e.results):
        return None
    keys_in = getattr(codec, "call_keys", None) or (lambda m: _keys(codec.calls_in(m)))
    # Locate each recorded exchange: its assistant turn (or only its answers), then the
    # messages answering it. chain index -> (start, end, leftover of last answer, whole turn)
    spans: dict[int, tuple[int, int, Any | None, bool]] = {}
    cursor = 0
    for index, calls in enumerate(chain):
        wanted = _keys(calls)
        ids = {c.id for c in calls}
        start = next(
            (i for i in range(cursor, len(messages)) if wanted and keys_in(messages[i]) == wanted),
            None,
        )
        whole = start is not None
        if start is None and ids - {""}:
            start = next((i for i in range(cursor, len(messages))
                          if _answers(codec, messages[i], ids)), None)
        if start is None:
            continue
        end = start + 1 if whole else start
        leftover = None
        while end < len(messages):
            answered, rest = codec.answers_in(messages[end])
            if not answered or not set(answered) <= ids:
                break
            end += 1
            if rest is not None:
                leftover = rest
                break
        spans[index] = (start, end, leftover, whole)
        cursor = end
    if chain and not spans:
        return None
    found = sorted(spans)
    prefix = messages[: spans[found[0]][0]] if found else list(messages)
    # Each found exchange's messages run up to where the next found one starts.
    stops = {a: spans[b][0] for a, b in zip(found, found[1:], strict=False)}
    rebuilt: list[Any] = list(prefix)
    for index, exchange in enumerate(exchanges):
        if index >= len(chain):
            rebuilt.extend(codec.render(exchange, []))
            continue
        if index not in spans:
            continue
        start, end, leftover, whole = spans[index]
        stop = stops.get(index, len(messages))
        tail = ([leftover] if leftover is not None else []) + messages[end:stop]
        rendered = codec.render(exchange, tail)
        rebuilt.extend(rendered if whole else rendered[1:])
    return codec.with_messages(body, rebuilt)


def _answers(codec: ConversationCodec, message: Any, ids: set[str]) -> bool:
    """Whether `message` answers some of the calls `ids`, and nothing else."""
    answered, _ = codec.answers_in(message)
    return bool(answered) and set(answered) <= ids

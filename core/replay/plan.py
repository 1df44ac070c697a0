"""Planning a replay: which requests can be sent, and which must wait for which.

Pure: no I/O, no clock. In chained mode request B depends on an earlier request A when A's
recorded output text (long enough to be unambiguous) appears in B's input, or when B carries
the tool calls A asked for. The engine sends B after A and swaps A's recorded output for
A's replayed output; if A's replayed tool calls differ, B is marked diverged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from core.formats import (
    Format,
    Message,
    ToolCall,
    recorded_output,
    replay_blocker,
    request_format,
)
from core.models import LoggedRequest
from core.replay.models import ReplaySpec

MIN_LINK_CHARS = 20


class PlannedRequest(BaseModel):
    """One recorded request and how the replay treats it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    request: LoggedRequest = Field(exclude=True)
    depends_on: list[str] = Field(default_factory=list)
    # Dependencies whose recorded tool calls this request carries (with their results).
    tool_depends_on: list[str] = Field(default_factory=list)
    skip_reason: str | None = None
    format_name: str | None = None
    recorded_text: str = ""  # stripped recorded output, what chained substitution replaces
    recorded_tool_calls: list[ToolCall] = Field(default_factory=list)
    # Responses API: the recorded response id, and the one this request continues.
    response_id: str | None = None
    continues: str | None = None
    # Agent branches: the request whose recorded tool calls (and their results) this request's
    # conversation ends with, and the first request of that chain.
    follows: str | None = None
    root: str | None = None

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def fmt(self) -> Format | None:
        if self.format_name is None:
            return None
        from core.formats import format_named

        return format_named(self.format_name)


class ReplayPlan(BaseModel):
    """Requests in recorded order (a topological order of the dependency graph)."""

    session_id: str
    mode: str
    items: list[PlannedRequest] = Field(default_factory=list)
    # Message text -> the recorded outputs found inside it while linking; lets the engine
    # substitute replayed outputs in one pass instead of searching every message per link.
    contained: dict[str, list[str]] = Field(default_factory=dict, exclude=True)
    # Recorded response id -> the request that produced it (Responses API chains).
    by_response: dict[str, str] = Field(default_factory=dict, exclude=True)
    # Per request, in order: the tool calls its conversation and response hold, and the
    # recorded results (call id -> text) it carries; the agent replay's recorded environment.
    tool_history: list[tuple[list[ToolCall], dict[str, str]]] = Field(
        default_factory=list, exclude=True
    )

    _by_id: dict[str, PlannedRequest] | None = PrivateAttr(default=None)

    def get(self, request_id: str) -> PlannedRequest:
        return self._index()[request_id]

    def _index(self) -> dict[str, PlannedRequest]:
        # Built once: an agent replay asks for every round's chain, and a rebuilt index per
        # question would make a long loop quadratic for nothing.
        if self._by_id is None or len(self._by_id) != len(self.items):
            self._by_id = {item.id: item for item in self.items}
        return self._by_id

    @property
    def skipped(self) -> list[PlannedRequest]:
        return [item for item in self.items if item.skip_reason is not None]

    def dependents(self) -> dict[str, list[str]]:
        """Request id -> the ids that depend on it directly."""
        result: dict[str, list[str]] = {item.id: [] for item in self.items}
        for item in self.items:
            for dep in item.depends_on:
                result[dep].append(item.id)
        return result

    def continued_by(self) -> dict[str, list[str]]:
        """Request id -> the requests whose conversation continues its tool calls."""
        result: dict[str, list[str]] = {}
        for item in self.items:
            if item.follows is not None:
                result.setdefault(item.follows, []).append(item.id)
        return result

    def chain(self, request_id: str) -> list[str]:
        """The recorded agent turns a request's conversation carries, first to last."""
        index = self._index()
        chain: list[str] = []
        seen: set[str] = set()
        current = index[request_id].follows
        while current is not None and current not in seen:
            chain.append(current)
            seen.add(current)
            current = index[current].follows
        return chain[::-1]

    def depth(self) -> int:
        """Length of the longest dependency chain: the ideal number of sequential rounds."""
        level: dict[str, int] = {}
        for item in self.items:
            if item.skip_reason is None:
                level[item.id] = 1 + max((level.get(d, 0) for d in item.depends_on), default=0)
        return max(level.values(), default=0)


def plan_replay(requests: Iterable[LoggedRequest], spec: ReplaySpec) -> ReplayPlan:
    """Order the session's requests, skip the unreplayable ones (with reasons), link the rest."""
    ordered = sorted(requests, key=lambda r: (r.created_at, r.id))
    items: list[PlannedRequest] = []
    for request in ordered:
        reason = replay_blocker(request)
        fmt = None if reason else request_format(request)
        item = PlannedRequest(request=request, skip_reason=reason,
                              format_name=fmt.name if fmt else None)
        if fmt is not None:
            output = recorded_output(request)
            item.recorded_text = output.text.strip()
            item.recorded_tool_calls = output.tool_calls
            response_id = getattr(fmt, "response_id", None)
            if response_id is not None:
                item.response_id = response_id(request.response_body)
                previous = request.request_body.get("previous_response_id")
                item.continues = previous if isinstance(previous, str) else None
        items.append(item)
    plan = ReplayPlan(session_id=spec.session_id, mode=spec.mode, items=items)
    plan.by_response = {i.response_id: i.id for i in items if i.response_id}
    if spec.mode == "chained":
        plan.contained = _link(items, plan.tool_history)
    return plan


def _link(
    items: list[PlannedRequest], tool_history: list[tuple[list[ToolCall], dict[str, str]]]
) -> dict[str, list[str]]:
    # Sources seen so far: recorded text -> latest request that produced it.
    by_text: dict[str, str] = {}
    texts: list[str] = []  # the keys of by_text, in the order they first appeared
    # Message text -> (how many of `texts` it was searched for, those it contains). A long
    # conversation repeats its history in every request; each message is searched once per
    # recorded text, not once per request, so planning stays near-quadratic, not cubic.
    found_in: dict[str, tuple[int, list[str]]] = {}
    by_call: dict[str, str] = {}
    by_response: dict[str, str] = {}
    order = {item.id: n for n, item in enumerate(items)}
    by_id = {item.id: item for item in items}
    reader = _MessageReader()
    for item in items:
        fmt = item.fmt
        if item.skip_reason is None and fmt is not None:
            messages = [
                m for m in reader.read(fmt, item.request.request_body) if m.role not in
                ("system", "developer")
            ]
            deps: set[str] = set()
            for message in messages:
                searched, contained = found_in.get(message.text, (0, []))
                if searched < len(texts):
                    haystack = message.text
                    contained = contained + [
                        t for t in texts[searched:] if len(t) <= len(haystack) and t in haystack
                    ]
                    found_in[message.text] = (len(texts), contained)
                deps.update(by_text[t] for t in contained)
            tool_deps: list[str] = []
            calls: list[ToolCall] = []
            results: dict[str, str] = {}
            for message in messages:
                calls.extend(message.tool_calls)
                if message.role == "tool" and message.tool_call_id:
                    results.setdefault(message.tool_call_id, message.text)
            tool_history.append((calls + item.recorded_tool_calls, results))
            for message in messages:
                # The calls a request carries, and the calls it answers: a Responses API
                # round continuing a stored response carries only the answers.
                keys = [call_key(call) for call in message.tool_calls]
                if message.role == "tool" and message.tool_call_id:
                    keys.append("id:" + message.tool_call_id)
                for key in keys:
                    source = by_call.get(key)
                    if source is not None and source not in tool_deps:
                        tool_deps.append(source)
            source = by_response.get(item.continues or "")
            if source is not None:
                deps.add(source)  # a Responses API turn continuing an earlier response
            item.depends_on = sorted({*deps, *tool_deps}, key=order.__getitem__)
            item.tool_depends_on = sorted(tool_deps, key=order.__getitem__)
            if tool_deps:
                item.follows = item.tool_depends_on[-1]
                item.root = by_id[item.follows].root or item.follows
        if item.skip_reason is None:
            if len(item.recorded_text) >= MIN_LINK_CHARS:
                if item.recorded_text not in by_text:
                    texts.append(item.recorded_text)
                by_text[item.recorded_text] = item.id
            for call in item.recorded_tool_calls:
                by_call[call_key(call)] = item.id
            if item.response_id:
                by_response[item.response_id] = item.id
    return {text: contained for text, (_, contained) in found_in.items()}


class _MessageReader:
    """A format's messages, reusing what the previous request of that format already read.

    An agent session repeats its whole conversation in every request; a format that can read
    one message on its own (`message_of`) has only the messages after the shared beginning
    read again (comparing raw messages is far cheaper than reading them).
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[list[Any], list[Message | None]]] = {}

    def read(self, fmt: Format, body: Any) -> list[Message]:
        one = getattr(fmt, "message_of", None)
        raw = body.get("messages") if isinstance(body, dict) else None
        if one is None or not isinstance(raw, list):
            return fmt.messages(body)
        seen, read = self._last.get(fmt.name, ([], []))
        shared, limit = 0, min(len(raw), len(seen))
        while shared < limit and raw[shared] == seen[shared]:
            shared += 1
        try:
            read = read[:shared] + [one(message) for message in raw[shared:]]
        except (AttributeError, KeyError, TypeError, ValueError, RecursionError):
            return fmt.messages(body)  # its own fallback says what was unexpected
        self._last[fmt.name] = (raw, read)
        return [message for message in read if message is not None]


def call_key(call: ToolCall) -> str:
    """Identify a tool call by its id, or by name and arguments when it has none."""
    if call.id:
        return "id:" + call.id
    return "fn:" + call.name + ":" + canonical_arguments(call.arguments)


def canonical_arguments(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments or "{}"), sort_keys=True)
    except ValueError:
        return arguments


def compared_answer(text: str, calls: list[ToolCall]) -> str:
    """What a turn answered, as similarity compares it: its text, then each tool call by
    name and canonical arguments (ids aside), so a turn that called other tools with the
    same text is not reported as unchanged."""
    if not calls:
        return text
    return "\n".join([text, *(f"→ {c.name}({canonical_arguments(c.arguments)})" for c in calls)])


def same_tool_calls(a: list[ToolCall], b: list[ToolCall]) -> bool:
    """Whether two turns asked for the same tools with the same arguments (ids aside)."""
    def shape(calls: list[ToolCall]) -> list[tuple[str, str]]:
        return [(c.name, canonical_arguments(c.arguments)) for c in calls]

    return shape(a) == shape(b)

"""Agent sessions in a replay: the tools a session offers, the calls it recorded, the turns.

Pure helpers the engine, the CLI and the app share. The engine keeps, per request, the
replayed exchanges its body carried (`Exchange`s, in `core.replay.conversation`), rebuilt
from stored results when a replay resumes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from core.formats import ToolCall, format_named
from core.models import LoggedRequest
from core.replay.conversation import Exchange, ToolResult
from core.replay.environment import RecordedTools
from core.replay.models import ReplayResult
from core.replay.plan import ReplayPlan


def tool_name(tool: dict[str, Any]) -> str:
    """A tool definition's name, in OpenAI (`function.name`) or Anthropic (`name`) shape."""
    function = tool.get("function")
    if isinstance(function, dict) and function.get("name"):
        return str(function["name"])
    return str(tool.get("name") or "")


def session_tools(requests: Iterable[LoggedRequest]) -> dict[str, dict[str, Any]]:
    """Every tool the session offered or called, name -> its definition (empty if unseen)."""
    from core.formats import detect_format

    tools: dict[str, dict[str, Any]] = {}
    for request in requests:
        body = request.request_body
        fmt = detect_format(body, request.provider, request.request_url or request.target_url)
        if fmt is None or not isinstance(body, dict):
            continue
        for tool in fmt.tools(body):
            name = tool_name(tool)
            if name:
                tools.setdefault(name, tool)
        for message in fmt.messages(body):
            for call in message.tool_calls:
                if call.name:
                    tools.setdefault(call.name, {})
        for call in fmt.output(request.response_body).tool_calls:
            if call.name:
                tools.setdefault(call.name, {})
    return tools


def recorded_tools(plan: ReplayPlan) -> RecordedTools:
    """The session's recorded tool calls with their recorded results, in recorded order."""
    return RecordedTools.from_conversations(plan.tool_history)


_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def with_call_ids(calls: list[ToolCall], key: str) -> list[ToolCall]:
    """Give every call an id both formats accept (some servers send none, or repeat one)."""
    seen: set[str] = set()
    fixed: list[ToolCall] = []
    for n, call in enumerate(calls):
        call_id = call.id
        if not call_id or call_id in seen or _ID_CHARS.search(call_id):
            call_id = f"call_{_ID_CHARS.sub('_', key)}_{n}"
        seen.add(call_id)
        fixed.append(call if call_id == call.id else call.model_copy(update={"id": call_id}))
    return fixed


def exchange(previous_key: str, previous: ReplayResult, results: list[ToolResult],
             *, recorded: bool) -> Exchange:
    """The turn `previous` made, answered with `results`."""
    return Exchange(
        recorded_id=previous_key if recorded else None,
        text=previous.output_text,
        calls=previous.tool_calls,
        results=results,
    )


def offers_tools(format_name: str | None, body: Any) -> bool:
    if format_name is None or not isinstance(body, dict):
        return False
    try:
        return bool(format_named(format_name).tools(body))
    except ValueError:
        return False


def extra_key(recorded_id: str, n: int) -> str:
    """The stored key of the n-th round the engine added after a recorded request."""
    return f"{recorded_id}+{n}"


def ordered_results(order: list[str], results: dict[str, ReplayResult]) -> list[ReplayResult]:
    """Results in recorded order, each added round right after the request it follows."""
    after: dict[str, list[ReplayResult]] = {}
    for result in results.values():
        if result.extra and result.after:
            after.setdefault(result.after, []).append(result)
    rows: list[ReplayResult] = []

    def place(key: str) -> None:
        for added in after.get(key, []):
            rows.append(added)
            place(added.request_id)

    for request_id in order:
        if request_id in results:
            rows.append(results[request_id])
            place(request_id)
    return rows


def tool_counts(results: Iterable[ReplayResult]) -> dict[str, int]:
    """How replayed tool calls were answered: recorded, rule (executed among them), user,
    stopped."""
    from core.replay.conversation import EXECUTED_SOURCES, RULE_SOURCES

    counts = {"recorded": 0, "rule": 0, "executed": 0, "user": 0, "stopped": 0}
    for result in results:
        for tool_result in result.tool_results:
            if tool_result.pending:
                counts["stopped"] += 1
            elif tool_result.source == "recorded":
                counts["recorded"] += 1
            elif tool_result.source == "user":
                counts["user"] += 1
            elif tool_result.source in RULE_SOURCES:
                counts["rule"] += 1
                counts["executed"] += tool_result.source in EXECUTED_SOURCES
    return counts

"""The tool environment of an agent replay: who answers a tool call the replayed model made.

1. **recorded**: a recorded call of the same tool with the same arguments (JSON compared
   canonically) gives its recorded result; repeated calls consume the recorded ones in
   recorded order, separately in each branch of the session.
2. otherwise the **rule** for that tool (a default, overridable per tool): `error`,
   `stub:TEXT` / `stub:@FILE`, `nearest`, `exec:COMMAND`, `mcp:COMMAND`, `llm`, `stop`.

Rules are parsed and checked before anything is sent. Matching and the rules without I/O
are pure; `exec`, `mcp` and `llm` go through the executors in `core.replay.executors` (or a
callback the engine gives for `llm`).
"""

from __future__ import annotations

import difflib
import json
import shlex
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.formats import ToolCall
from core.replay.conversation import ToolResult

RuleKind = Literal["error", "stub", "nearest", "exec", "mcp", "llm", "stop"]
RULE_KINDS: tuple[str, ...] = ("error", "stub", "nearest", "exec", "mcp", "llm", "stop")
MAX_STUB_BYTES = 1_000_000
NOT_AVAILABLE = (
    "Error: the result of this tool call is not available in this replay"
    " (no recorded call of {name} with these arguments)."
)

# Simulates a tool with the replay target: (system prompt, user prompt) -> the result text.
Simulator = Callable[[str, str], Awaitable[str]]


class RuleError(ValueError):
    """A rule that cannot be used; the message says what to write instead."""


class ToolRule(BaseModel):
    """One parsed rule. `stub:@FILE` is read when parsed, so a resumed replay needs no file."""

    kind: RuleKind = "error"
    text: str = ""  # stub: the result; exec/mcp: the command line
    spec: str = "error"  # as the user wrote it

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)


def parse_rule(spec: str) -> ToolRule:
    """Parse `error`, `stub:TEXT`, `stub:@FILE`, `nearest`, `exec:CMD`, `mcp:CMD`, `llm`, `stop`."""
    raw = spec.strip()
    kind, sep, arg = raw.partition(":")
    kind = kind.strip().lower()
    if kind not in RULE_KINDS:
        raise RuleError(
            f"unknown tool rule {spec!r}; use one of error, stub:TEXT, stub:@FILE, nearest,"
            " exec:COMMAND, mcp:COMMAND, llm, stop"
        )
    if kind in ("error", "nearest", "llm", "stop"):
        if sep and arg.strip():
            raise RuleError(f"tool rule {kind!r} takes no argument (got {spec!r})")
        return ToolRule(kind=kind, spec=kind)  # type: ignore[arg-type]
    if not sep:
        raise RuleError(f"tool rule {kind!r} needs an argument: {kind}:…")
    if kind == "stub":
        text = arg
        if arg.startswith("@"):
            path = Path(arg[1:]).expanduser()
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise RuleError(f"stub:@{arg[1:]}: cannot read the file ({exc.strerror})") from None
            if len(data) > MAX_STUB_BYTES:
                raise RuleError(f"stub:@{arg[1:]}: the file is larger than 1 MB")
            text = data.decode("utf-8", errors="replace")
        return ToolRule(kind="stub", text=text, spec=raw)
    try:
        argv = shlex.split(arg)
    except ValueError as exc:
        raise RuleError(f"{kind}:{arg}: cannot split the command line ({exc})") from None
    if not argv:
        raise RuleError(f"tool rule {kind!r} needs a command: {kind}:COMMAND")
    return ToolRule(kind=kind, text=arg, spec=raw)  # type: ignore[arg-type]


class ToolSettings(BaseModel):
    """The environment's configuration, saved in the replay's spec."""

    default: ToolRule = Field(default_factory=ToolRule)
    tools: dict[str, ToolRule] = Field(default_factory=dict)
    max_extra_turns: int = Field(default=10, ge=0, le=1000)
    timeout_s: float = Field(default=30.0, gt=0, le=3600)

    def rule_for(self, name: str) -> ToolRule:
        return self.tools.get(name, self.default)

    @classmethod
    def parse(
        cls,
        default: str | None = None,
        tools: Iterable[tuple[str, str]] = (),
        max_extra_turns: int = 10,
    ) -> ToolSettings:
        """From the CLI's or the config's strings; raises `RuleError` on the first bad rule."""
        per_tool: dict[str, ToolRule] = {}
        for name, spec in tools:
            name = name.strip()
            if not name:
                raise RuleError("a per-tool rule needs a tool name: NAME=RULE")
            per_tool[name] = parse_rule(spec)
        return cls(
            default=parse_rule(default) if default else ToolRule(),
            tools=per_tool,
            max_extra_turns=max_extra_turns,
        )

    def warnings(self, offered: Iterable[str]) -> list[str]:
        """Rules naming tools the session never offered (a typo, most likely)."""
        known = set(offered)
        return [
            f"--tool {name}: the session never offered a tool named {name!r}"
            + (f" (offered: {', '.join(sorted(known))})" if known else "")
            for name in self.tools
            if name not in known
        ]


class RecordedCall(BaseModel):
    """A tool call found in the recording, with the result the recording gave it."""

    call_id: str
    name: str
    arguments: str  # canonical JSON
    result: str


def canonical(arguments: str) -> str:
    from core.replay.plan import canonical_arguments

    return canonical_arguments(arguments)


class RecordedTools:
    """Every recorded call with a recorded result, by (name, canonical arguments) and by name."""

    def __init__(self, calls: Iterable[RecordedCall]) -> None:
        self.by_key: dict[tuple[str, str], list[RecordedCall]] = {}
        self.by_name: dict[str, list[RecordedCall]] = {}
        for call in calls:
            self.by_key.setdefault((call.name, call.arguments), []).append(call)
            self.by_name.setdefault(call.name, []).append(call)

    @classmethod
    def from_conversations(
        cls, conversations: Iterable[tuple[list[ToolCall], dict[str, str]]]
    ) -> RecordedTools:
        """From (calls made, results by call id) pairs, in recorded order; each id once."""
        seen: set[str] = set()
        found: list[RecordedCall] = []
        pending: dict[str, ToolCall] = {}
        for calls, results in conversations:
            for call in calls:
                if call.id and call.id not in seen:
                    pending.setdefault(call.id, call)
            for call_id, text in results.items():
                answered = pending.get(call_id)
                if answered is None or call_id in seen:
                    continue
                seen.add(call_id)
                found.append(RecordedCall(call_id=call_id, name=answered.name,
                                          arguments=canonical(answered.arguments), result=text))
        return cls(found)

    def names(self) -> set[str]:
        return set(self.by_name)


class Environment:
    """Answers replayed tool calls for one replay; `aclose()` stops what it started."""

    def __init__(
        self,
        recorded: RecordedTools,
        settings: ToolSettings,
        *,
        schemas: Callable[[], dict[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.recorded = recorded
        self.settings = settings
        self._schemas = schemas  # tool definitions, read only when the `llm` rule needs them
        # (branch, name, arguments) -> how many recorded results that branch consumed.
        self.consumed: dict[tuple[str, str, str], int] = {}
        self._mcp: dict[str, Any] = {}

    def note_consumed(self, branch: str, result: ToolResult) -> None:
        """Count a stored `recorded` result again when a replay resumes."""
        if result.source == "recorded":
            key = (branch, result.name, canonical(result.arguments))
            self.consumed[key] = self.consumed.get(key, 0) + 1

    def match(self, branch: str, call: ToolCall) -> RecordedCall | None:
        """The next unused recorded call with this name and these arguments, in this branch."""
        args = canonical(call.arguments)
        candidates = self.recorded.by_key.get((call.name, args), [])
        key = (branch, call.name, args)
        used = self.consumed.get(key, 0)
        if used >= len(candidates):
            return None
        self.consumed[key] = used + 1
        return candidates[used]

    async def resolve(
        self, branch: str, call: ToolCall, *, simulate: Simulator | None = None
    ) -> ToolResult:
        """The result for one call: recorded when it matches, else the tool's rule."""
        base = ToolResult(call_id=call.id, name=call.name, arguments=call.arguments,
                          source="recorded")
        found = self.match(branch, call)
        if found is not None:
            return base.model_copy(update={"content": found.result,
                                           "recorded_call_id": found.call_id})
        rule = self.settings.rule_for(call.name)
        base.source = rule.kind
        if rule.kind == "stop":
            return base  # pending: the person supplies the result
        if rule.kind == "error":
            return base.model_copy(update={
                "content": NOT_AVAILABLE.format(name=call.name), "is_error": True})
        if rule.kind == "stub":
            return base.model_copy(update={"content": rule.text})
        if rule.kind == "nearest":
            near = self.nearest(call)
            if near is None:
                return base.model_copy(update={
                    "content": f"Error: the recording has no call of {call.name} to reuse.",
                    "is_error": True})
            return base.model_copy(update={"content": near.result,
                                           "recorded_call_id": near.call_id})
        if rule.kind == "exec":
            from core.replay.executors import run_exec

            text, is_error = await run_exec(rule.argv, call, timeout_s=self.settings.timeout_s)
            return base.model_copy(update={"content": text, "is_error": is_error})
        if rule.kind == "mcp":
            text, is_error = await self._mcp_call(rule, call)
            return base.model_copy(update={"content": text, "is_error": is_error})
        # llm
        if simulate is None:
            return base.model_copy(update={
                "content": "Error: no model is available to simulate this tool.",
                "is_error": True})
        system, user = self.simulation_prompt(call)
        try:
            text = await simulate(system, user)
        except Exception as exc:  # the target failed: the model sees why, the replay goes on
            return base.model_copy(update={
                "content": f"Error: simulating {call.name} failed: {exc}"[:2000],
                "is_error": True})
        return base.model_copy(update={"content": text})

    def nearest(self, call: ToolCall) -> RecordedCall | None:
        """The recorded call of the same tool whose arguments read most alike."""
        candidates = self.recorded.by_name.get(call.name) or []
        if not candidates:
            return None
        args = canonical(call.arguments)
        return max(
            candidates,
            key=lambda c: difflib.SequenceMatcher(None, args, c.arguments).ratio(),
        )

    def simulation_prompt(self, call: ToolCall) -> tuple[str, str]:
        """What the `llm` rule asks the target: the schema and the recorded examples."""
        schema = (self._schemas() if self._schemas else {}).get(call.name)
        examples = self.recorded.by_name.get(call.name, [])[:5]
        lines = [
            f"You simulate the tool `{call.name}` for a replay of a recorded agent session.",
            "Answer with only the tool's result, exactly as the tool would return it,",
            "with no explanation.",
        ]
        if schema:
            lines += ["", "The tool's definition:", json.dumps(schema, ensure_ascii=False)[:4000]]
        if examples:
            lines += ["", "Recorded calls of this tool and their results:"]
            for example in examples:
                lines += [f"arguments: {example.arguments}", f"result: {example.result[:2000]}"]
        user = f"arguments: {canonical(call.arguments)}\nresult:"
        return "\n".join(lines), user

    async def _mcp_call(self, rule: ToolRule, call: ToolCall) -> tuple[str, bool]:
        from core.replay.executors import McpServer

        server = self._mcp.get(rule.text)
        if server is None:
            server = McpServer(rule.argv, timeout_s=self.settings.timeout_s)
            self._mcp[rule.text] = server
        return await server.call(call)

    async def aclose(self) -> None:
        servers, self._mcp = list(self._mcp.values()), {}
        for server in servers:
            await server.aclose()

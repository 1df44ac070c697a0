"""The data a replay is made of: its spec, per-request results, the replay row and events.

These are the boundary types shared by the engine, the store, the CLI and the TUI; they are
saved as JSON, so every field is plain data and no field ever holds an API key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.edits import EditSet
from core.formats import ToolCall
from core.replay.conversation import ToolResult
from core.replay.environment import ToolSettings
from core.replay.status import (  # noqa: F401 - the status type and its groups live there
    FAILED,
    FINAL,
    KEPT_ON_RESUME,
    SUCCEEDED,
    RequestStatus,
)

ReplayMode = Literal["chained", "isolated"]
ReplayStatus = Literal[
    "running", "done", "failed", "cancelled", "interrupted", "needs_tool_result"
]
EventKind = Literal[
    "queued",
    "started",
    "retried",
    "finished",
    "failed",
    "skipped",
    "blocked",
    "cancelled",
    "stopped",  # a request waits for a tool result
    "replay_finished",
]
class ReplayTarget(BaseModel):
    """Where requests go and which key variable travels with them: always named by the person
    running the command (a stored one is shown, never reused without being named again)."""

    via: str = "original"  # "original" | "helicone" | "local" | an OpenAI-compatible base URL
    api_key_env: str | None = None  # env var holding the key for a custom base URL
    allow_hosts: list[str] = Field(default_factory=list)


class ReplaySpec(BaseModel):
    """What to replay and how: saved with the replay so it can be shown and resumed."""

    session_id: str
    edits: EditSet = Field(default_factory=EditSet)
    mode: ReplayMode = "chained"
    via: str = "original"  # "original" | "helicone" | "local" | an OpenAI-compatible base URL
    model: str | None = None  # override for every request
    api_key_env: str | None = None  # env var holding the key for a custom base URL
    allow_hosts: list[str] = Field(default_factory=list)
    concurrency: int = 8
    stream: bool | None = None  # None: stream exactly when the recorded request did
    # Imported requests whose wire format could not be decided (stored as OpenAI chat) are
    # sent in this one: "chat", "anthropic", "gemini" or "responses" (None: as stored).
    format: str | None = None
    # Agent sessions: who answers the replayed model's tool calls, and how many rounds beyond
    # the recording it may take.
    tools: ToolSettings = Field(default_factory=ToolSettings)

    def target(self) -> ReplayTarget:
        return ReplayTarget(via=self.via, api_key_env=self.api_key_env,
                            allow_hosts=list(self.allow_hosts))

    def with_target(self, target: ReplayTarget) -> ReplaySpec:
        return self.model_copy(update=target.model_dump())


class ReplayResult(BaseModel):
    """One replayed request, committed the moment it completes."""

    request_id: str
    status: RequestStatus = "queued"
    sent_body: dict[str, Any] | None = None
    response_body: Any = None
    output_text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    error: str | None = None
    http_status: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    diverged: bool = False
    diverged_reason: str | None = None
    blocked: bool = False
    depends_on: list[str] = Field(default_factory=list)
    similarity: float | None = None
    attempts: int = 0
    # The id Helicone logged the replayed call under (`Helicone-Id`), when sent through it.
    helicone_id: str | None = None
    finished_at: datetime | None = None
    # Agent replay. The tool results this request carried (results of the previous turn's
    # calls) and where each came from; pending ones are waited for (`needs_tool_result`).
    tool_results: list[ToolResult] = Field(default_factory=list)
    # The replayed tool calls differ (name or arguments) from the recorded ones.
    tool_calls_changed: bool = False
    # A round the engine added beyond the recording: `request_id` is then `<recorded>+<n>`
    # and `after` the recorded or added request it follows.
    extra: bool = False
    after: str | None = None
    # The branch's replayed final answer, which requests quoting this one receive (set when
    # the replayed agent finished earlier or later than recorded).
    answer: str | None = None
    note: str | None = None

    @property
    def pending_calls(self) -> list[ToolResult]:
        return [r for r in self.tool_results if r.pending]

    @property
    def effective_text(self) -> str:
        """What this request answered in the replay, for the requests quoting it."""
        return self.answer if self.answer is not None else self.output_text


class Replay(BaseModel):
    """A stored replay of one session."""

    id: str
    session_id: str
    created_at: datetime
    finished_at: datetime | None = None
    status: ReplayStatus = "running"
    mode: ReplayMode = "chained"
    spec: ReplaySpec
    owner_pid: int | None = None  # the process that runs (or last ran) it
    total: int = 0  # results stored so far
    failed: int = 0
    done: int = 0


class ReplayEvent(BaseModel):
    """Progress reported by the engine; the TUI and the CLI consume the same stream."""

    kind: EventKind
    replay_id: str
    request_id: str | None = None
    result: ReplayResult | None = None
    attempt: int = 0
    message: str = ""

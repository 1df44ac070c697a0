"""What the recorder keeps of one proxied call: the exact request body and the response,
assembled from a stream when it was streamed, with timings and the reason it failed.

While the call is in flight a capture only keeps the chunks as they pass (and when each
arrived): the request path does nothing but forward. Once the call is over, `finish()` (on
the recorder's writer thread) splits the server-sent events and folds them with the wire
format's own stream assembler (`core.formats`), so the stored response is one message (text,
tool calls, usage, finish reason) like a non-streamed one, with the time its first token
arrived.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from core.models import LoggedRequest, normalize_path

MAX_CAPTURE_BYTES = 64 * 1024 * 1024  # beyond this the response is passed on, not stored


class SessionInfo(BaseModel):
    """Session headers an app sent (`Helicone-Session-*`, `X-Reprise-Session`), validated."""

    session_id: str = Field(max_length=1000)
    session_name: str = Field(default="", max_length=1000)
    session_path: str = Field(default="/", max_length=10_000)
    prompt_id: str | None = Field(default=None, max_length=1000)


def format_for_path(path: str) -> str:
    """The wire format a request path speaks: Anthropic messages, Gemini, the Responses API,
    else OpenAI chat completions (and everything else OpenAI serves)."""
    if path.rstrip("/").endswith("/messages") or "/messages/" in path:
        return "anthropic"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    if path.rstrip("/").endswith("/responses"):
        return "responses"
    return "openai"


UPSTREAM_OF = {"openai": "openai", "responses": "openai", "anthropic": "anthropic",
               "gemini": "gemini"}


class SseSplitter:
    """Incremental server-sent-events parser: bytes in, `data:` payloads out."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        payloads: list[str] = []
        while True:
            cut = _event_end(self._buffer)
            if cut is None:
                return payloads
            raw, self._buffer = self._buffer[: cut[0]], self._buffer[cut[1]:]
            data = [line[5:].lstrip() for line in raw.decode("utf-8", "replace").splitlines()
                    if line.startswith("data:")]
            if data:
                payloads.append("\n".join(data))


def _event_end(buffer: bytes) -> tuple[int, int] | None:
    found = [(i, i + len(sep)) for sep in (b"\n\n", b"\r\n\r\n") if (i := buffer.find(sep)) >= 0]
    return min(found) if found else None


def assembler_for(fmt: str) -> Any:
    """The wire format's own stream assembler (core.formats): chunks in, one response out."""
    from core.formats import format_named

    return format_named(fmt).stream_assembler()


@dataclass
class Capture:
    """One call as it passes through the recorder."""

    fmt: str
    path: str
    upstream_url: str
    session: SessionInfo
    request_bytes: bytes
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: str = ""  # given when the row is built, off the request path
    status: int | None = None
    streamed: bool = False
    ttft_ms: float | None = None
    error: str | None = None
    ended_at: float | None = None
    _chunks: list[bytes] = field(default_factory=list)
    _times: list[float] = field(default_factory=list)
    _size: int = 0
    ended: bool = False  # the upstream's answer arrived whole
    _assembler: Any = None
    _finished: bool = False

    # -- while the call is in flight: nothing but keeping bytes ------------------------------
    def begin(self, status: int, content_type: str) -> None:
        self.status = status
        self.streamed = "text/event-stream" in content_type.lower()

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= MAX_CAPTURE_BYTES:
            self._chunks.append(chunk)
            if self.streamed:
                self._times.append(time.perf_counter())

    def end(self) -> None:
        """The upstream's answer arrived whole (a stream: its connection ended normally)."""
        self.ended = True
        self.ended_at = time.perf_counter()

    # -- afterwards, off the request path ----------------------------------------------------
    def finish(self) -> None:
        """Assemble a streamed answer from the kept chunks: its message, time to first token,
        and whether its final event came (a stream cut short is a failed call)."""
        if self.ended_at is None:
            self.ended_at = time.perf_counter()
        if not self.streamed or self._assembler is not None:
            return
        sse = SseSplitter()
        self._assembler = assembler_for(self.fmt)
        for chunk, at in zip(self._chunks, self._times, strict=True):
            for payload in sse.feed(chunk):
                if payload.strip() == "[DONE]":
                    self._finished = True
                    continue
                try:
                    event = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("type") in (
                    "message_stop", "response.completed", "response.failed",
                    "response.incomplete",
                ):
                    self._finished = True
                if self._assembler.feed(event) and self.ttft_ms is None:
                    self.ttft_ms = (at - self.started) * 1000
        if self._size > MAX_CAPTURE_BYTES and self.error is None:
            self.error = f"response of {self._size} bytes: only the first part was stored"
        if self.ended and self.error is None and not self.complete:
            self.fail(502, "the stream ended before its final event")

    def fail(self, status: int, reason: str) -> None:
        """The call did not complete: a status the app saw (or 499: the app went away)."""
        self.status = status
        self.error = reason
        if self.ended_at is None:
            self.ended_at = time.perf_counter()

    def request_body(self) -> Any:
        try:
            return json.loads(self.request_bytes)
        except (ValueError, RecursionError):
            return self.request_bytes.decode("utf-8", "replace")

    def response_body(self) -> Any:
        self.finish()
        if self._assembler is not None:
            return self._assembler.body()
        raw = b"".join(self._chunks)
        if self._size > MAX_CAPTURE_BYTES:
            return {"error": {"message": f"response of {self._size} bytes was not stored"}}
        try:
            return json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            return raw.decode("utf-8", "replace")

    def to_request(self, provider: str) -> LoggedRequest:
        self.finish()
        body = self.request_body()
        response = self.response_body()
        properties = {"reprise.source": "record"}
        if self.error:
            properties["reprise.error"] = self.error
        usage = _usage(self.fmt, response)
        model = body.get("model") if isinstance(body, dict) else None
        if not model and self.fmt == "gemini":
            model = self.path.rsplit("/", 1)[-1].split(":", 1)[0]
        seconds = (self.ended_at or time.perf_counter()) - self.started
        self.id = self.id or str(uuid.uuid4())
        return LoggedRequest(
            id=self.id,
            created_at=self.created_at,
            response_at=self.created_at + timedelta(seconds=seconds),
            session_id=self.session.session_id,
            session_name=self.session.session_name,
            session_path=normalize_path(self.session.session_path),
            prompt_id=self.session.prompt_id,
            properties=properties,
            provider=provider,
            model=str(model or "unknown"),
            target_url=self.upstream_url,
            request_url=self.path,
            status=self.status,
            latency_ms=seconds * 1000,
            time_to_first_token_ms=self.ttft_ms,
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
            total_tokens=usage[2],
            request_body=body,
            response_body=response,
        )

    @property
    def complete(self) -> bool:
        """A stream is complete when its terminal event arrived; a plain body always is."""
        return not self.streamed or self._finished or self.fmt == "gemini"


def _usage(fmt: str, response: Any) -> tuple[int | None, int | None, int | None]:
    if not isinstance(response, dict):
        return None, None, None
    if fmt == "gemini":
        usage = response.get("usageMetadata") or {}
        keys = ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")
    elif fmt in ("anthropic", "responses"):
        usage = response.get("usage") or {}
        keys = ("input_tokens", "output_tokens", "" if fmt == "anthropic" else "total_tokens")
    else:
        usage = response.get("usage") or {}
        keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    if not isinstance(usage, dict):
        return None, None, None
    values = [usage.get(k) if k else None for k in keys]
    ints = [v if isinstance(v, int) and not isinstance(v, bool) else None for v in values]
    if ints[2] is None and ints[0] is not None and ints[1] is not None:
        ints[2] = ints[0] + ints[1]
    return ints[0], ints[1], ints[2]

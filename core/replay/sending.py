"""One HTTP exchange of a replayed request: bounded waits and a complete, well-formed answer.

Every wait has a limit (`Timeouts`): connecting, writing, the gap between bytes, the gap
between events of a stream (keep-alive comments do not count), and a total deadline per
attempt. What comes back is checked by its format before it counts as an answer: a stream
must end properly, a body must have the provider's shape. Anything else raises `Attempt`
with a precise reason, whether it may be retried, and the raw body for inspection.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from core.formats import Format
from core.replay.failures import describe_network_error

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
MAX_ERROR_BODY = 20_000  # characters of an error body kept with a failed result
MAX_RAW_BODY = 1_000_000  # characters of a broken answer (cut stream, bad shape) kept
AttemptKind = Literal["http", "connection", "timeout", "incomplete", "malformed"]


@dataclass(frozen=True)
class Timeouts:
    """Limits of one attempt, in seconds. `read` bounds the silence between bytes and between
    the events of a stream (a non-streamed answer may be silent up to `total`); `total` bounds
    the whole attempt, first byte sent to last read."""

    connect: float = 10.0
    write: float = 30.0
    read: float = 120.0
    pool: float = 60.0
    total: float = 600.0

    @classmethod
    def within(cls, seconds: float) -> Timeouts:
        """`--timeout SECONDS`: the total deadline, and no single wait longer than it."""
        base = cls()
        return cls(connect=min(base.connect, seconds), write=min(base.write, seconds),
                   read=min(base.read, seconds), pool=min(base.pool, seconds), total=seconds)

    def for_httpx(self, *, stream: bool = True) -> httpx.Timeout:
        """httpx's limits. A whole (non-streamed) answer arrives in one piece after the model
        has finished, so its silence is bounded by the total, not by `read`."""
        return httpx.Timeout(connect=self.connect, read=self.read if stream else self.total,
                             write=self.write, pool=self.pool)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `Retry-After` wins when the server sends one.

    Throttling, server errors and dropped connections get `max_attempts`; a timeout or an
    incomplete answer is retried once (`max_slow_attempts`), so a dead endpoint costs at most
    two deadlines. A `Retry-After` longer than `max_retry_after_s` fails at once.
    """

    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 60.0
    max_slow_attempts: int = 2

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(retry_after, 0.0)
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def attempts_for(self, kind: AttemptKind) -> int:
        if kind in ("timeout", "incomplete", "malformed"):
            return min(self.max_attempts, self.max_slow_attempts)
        return self.max_attempts


class Attempt(Exception):
    """A failed attempt: what to record, and whether it may be retried."""

    def __init__(
        self,
        message: str,
        *,
        kind: AttemptKind = "http",
        status: int | None = None,
        body: Any = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.body = body
        self.retryable = retryable
        self.retry_after = retry_after


def make_client(concurrency: int = 8, timeouts: Timeouts | None = None) -> httpx.AsyncClient:
    """The shared client: bounded waits (each send also passes its own), pooled connections."""
    return httpx.AsyncClient(
        timeout=(timeouts or Timeouts()).for_httpx(),
        limits=httpx.Limits(
            max_connections=max(concurrency * 2, 10), max_keepalive_connections=max(concurrency, 10)
        ),
        follow_redirects=False,
    )


def waiting_for(url: str, timeouts: Timeouts, attempt: int = 1) -> str:
    """What a running request waits for, for progress lines: host, deadline, attempt."""
    again = f", attempt {attempt}" if attempt > 1 else ""
    return f"waiting for {urlsplit(url).netloc or url} (up to {timeouts.total:g} s{again})"


async def send(
    client: httpx.AsyncClient,
    fmt: Format,
    url: str,
    headers: dict[str, str],
    payload: bytes,
    stream: bool,
    started: float,
    timeouts: Timeouts,
) -> tuple[Any, float | None, str | None]:
    """POST once and return (complete response body, time to first token ms, Helicone id)."""
    try:
        async with asyncio.timeout(timeouts.total):
            return await _exchange(client, fmt, url, headers, payload, stream, started, timeouts)
    except TimeoutError:
        raise Attempt(
            f"timed out: no complete answer within {timeouts.total:g} s", kind="timeout",
            retryable=True,
        ) from None
    except httpx.TimeoutException as exc:
        # One sentence naming the URL, the phase and the limit that ran out.
        raise Attempt(f"{describe_network_error(exc, url)} ({_limit(exc, timeouts, stream)})",
                      kind="timeout", retryable=True) from None
    except httpx.TransportError as exc:
        raise Attempt(describe_network_error(exc, url), kind="connection",
                      retryable=True) from None


async def _exchange(
    client: httpx.AsyncClient,
    fmt: Format,
    url: str,
    headers: dict[str, str],
    payload: bytes,
    stream: bool,
    started: float,
    timeouts: Timeouts,
) -> tuple[Any, float | None, str | None]:
    limits = timeouts.for_httpx(stream=stream)
    if not stream:
        response = await client.post(url, content=payload, headers=headers, timeout=limits)
        if response.status_code >= 400:
            raise failure(response, response.content)
        ttft = (time.perf_counter() - started) * 1000
        return _whole_body(fmt, response.content, response.status_code), ttft, \
            response.headers.get("helicone-id")
    request = client.build_request("POST", url, content=payload, headers=headers,
                                   timeout=limits)
    response = await client.send(request, stream=True)
    try:
        if response.status_code >= 400:
            raise failure(response, await response.aread())
        helicone_id = response.headers.get("helicone-id")
        if "text/event-stream" not in response.headers.get("content-type", ""):
            raw = await response.aread()
            return (_whole_body(fmt, raw, response.status_code),
                    (time.perf_counter() - started) * 1000, helicone_id)
        body, first_token = await _read_stream(fmt, response, started, timeouts)
        return body, first_token, helicone_id
    finally:
        await response.aclose()


def _whole_body(fmt: Format, raw: bytes, status: int) -> Any:
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise Attempt(f"HTTP {status}: response is not JSON", kind="malformed", status=status,
                      body=text[:MAX_RAW_BODY], retryable=True) from None
    problem = fmt.response_problem(data)
    if problem is not None:
        raise Attempt(problem, kind="incomplete", status=status, body=text[:MAX_RAW_BODY],
                      retryable=True)
    return data


async def _read_stream(
    fmt: Format, response: httpx.Response, started: float, timeouts: Timeouts
) -> tuple[Any, float | None]:
    assembler = fmt.stream_assembler()
    raw: list[str] = []
    size = 0
    ttft: float | None = None
    last_event = time.monotonic()

    def kept() -> str:
        return "".join(raw)

    async for kind, data in _sse(response):
        if size < MAX_RAW_BODY:
            raw.append(data + "\n")
            size += len(data) + 1
        now = time.monotonic()
        if kind == "comment":
            if now - last_event > timeouts.read:
                raise Attempt(
                    f"timed out: no event for {timeouts.read:g} s (the server only sent"
                    " keep-alives)", kind="timeout", status=response.status_code,
                    body=kept(), retryable=True)
            continue
        last_event = now
        if data == "[DONE]":
            assembler.end_marker()
            break
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            raise Attempt("the event stream carried a non-JSON event", kind="malformed",
                          status=response.status_code, body=kept(), retryable=True) from None
        try:
            carried = assembler.feed(event)
        except (ValueError, TypeError, AttributeError, KeyError):
            raise Attempt("a stream event has an unexpected shape", kind="malformed",
                          status=response.status_code, body=kept(), retryable=True) from None
        if carried and ttft is None:
            ttft = (time.perf_counter() - started) * 1000
    problem = assembler.problem()
    if problem is not None:
        raise Attempt(problem, kind="incomplete", status=response.status_code, body=kept(),
                      retryable=True)
    return assembler.body(), ttft


async def _sse(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """("data", payload) per server-sent event, ("comment", line) per keep-alive line."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "data", "\n".join(lines)
                lines = []
            continue
        if line.startswith("data:"):
            lines.append(line[5:].lstrip(" "))
        elif line.startswith(":"):
            yield "comment", line
    if lines:
        yield "data", "\n".join(lines)


def _limit(exc: httpx.TimeoutException, timeouts: Timeouts, stream: bool) -> str:
    seconds = {
        httpx.ReadTimeout: timeouts.read if stream else timeouts.total,
        httpx.ConnectTimeout: timeouts.connect,
        httpx.WriteTimeout: timeouts.write,
        httpx.PoolTimeout: timeouts.pool,
    }.get(type(exc), timeouts.read)
    return f"no progress for {seconds:g} s"


def failure(response: httpx.Response, raw: bytes) -> Attempt:
    """An HTTP error status as an attempt: retryable for throttling and server errors."""
    text = raw.decode(errors="replace")
    try:
        body: Any = json.loads(text)
    except (ValueError, RecursionError):
        body = text[:MAX_ERROR_BODY]
    status = response.status_code
    detail = body
    if isinstance(body, dict) and "error" in body:
        error = body["error"]
        detail = error.get("message", error) if isinstance(error, dict) else error
    return Attempt(
        f"HTTP {status}: {str(detail)[:500]}",
        kind="http",
        status=status,
        body=body,
        retryable=status in RETRY_STATUSES,
        retry_after=retry_after(response.headers.get("retry-after")),
    )


def retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds == seconds else None  # NaN is no answer
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())

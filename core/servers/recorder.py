"""`reprise record`: a recording reverse proxy on loopback that is also an OTLP/HTTP endpoint.

An app points its SDK's base URL here and runs unchanged. Each call goes to the upstream its
path implies (`/v1/messages` → Anthropic, `…:generateContent` → Gemini, anything else →
OpenAI) with the app's own headers, key included; the response comes back chunk by chunk as
the upstream sends it. The request body and the response (assembled when streamed) are
stored as a logged request by a writer thread, after the response has gone back, so storing
never delays the app. Keys are never stored, logged or shown: only bodies are kept.

`POST /v1/traces` takes OTLP/HTTP traces (protobuf or JSON); LLM spans are imported as they
arrive (see `core.sources.spans`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import threading
import time
import uuid
import zlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field, ValidationError

from core.models import LoggedRequest
from core.servers.capture import UPSTREAM_OF, Capture, SessionInfo, format_for_path
from core.store import Store

DEFAULT_UPSTREAMS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
MAX_REQUEST_BYTES = 32 * 1024 * 1024
MAX_TRACES_BYTES = 64 * 1024 * 1024
MAX_LIVE_TRACES = 2000
WRITE_LINGER_SECONDS = 0.1  # a recorded call is in the store at most this long after it ends
MAX_WRITE_BATCH = 500
MAX_DEFER_SECONDS = 2.0  # storing waits at most this long for the calls in flight to end
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
               b"te", b"trailer", b"transfer-encoding", b"upgrade", b"host", b"content-length",
               b"accept-encoding"}
_SESSION_HEADERS = {b"helicone-session-id", b"helicone-session-name", b"helicone-session-path",
                    b"helicone-prompt-id", b"x-reprise-session"}


class RecordSettings(BaseModel):
    """How a recorder runs; validated before it starts."""

    db: str
    session_name: str = Field(default="", max_length=1000)
    upstreams: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_UPSTREAMS))
    timeout: float = Field(default=600.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)

    def checked(self) -> RecordSettings:
        for name, url in self.upstreams.items():
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"--upstream-{name} {url!r} is not an http(s) URL")
            if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "::1", "localhost"):
                raise ValueError(
                    f"--upstream-{name} {url!r}: keys are only sent over https (or to loopback)"
                )
        return self


@dataclass
class RecordEvent:
    """One line of the live log: a recorded call, imported spans, or an error."""

    kind: str  # "request" | "spans" | "error"
    text: str
    session: str = ""
    failed: bool = False


@dataclass
class Stats:
    requests: int = 0
    failed: int = 0
    spans: int = 0
    sessions: set[str] = field(default_factory=set)


class Traffic:
    """The calls in flight, counted on the event loop, so storing can wait for a quiet moment.

    Building and storing rows holds the interpreter; doing it while a call is being forwarded
    would delay that call (by up to Python's 5 ms thread switch interval). The writer waits
    until no call is in flight — between an app's calls — unless calls never pause for
    `MAX_DEFER_SECONDS`.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self.idle = threading.Event()
        self.waiting = False

    def begin(self) -> None:
        self.in_flight += 1

    def end(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self.waiting:
            self.idle.set()  # only when the writer waits: no thread wake-up per call

    def wait_quiet(self, deadline: float, hurry: Callable[[], bool]) -> None:
        """Block (on the writer thread) until no call is in flight, `deadline`, or `hurry()`."""
        while self.in_flight > 0 and not hurry():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.idle.clear()
            self.waiting = True
            if self.in_flight == 0:
                break
            self.idle.wait(remaining)
        self.waiting = False


class Writer:
    """Stores recorded requests on its own thread, in batches, in arrival order.

    `put` only appends to a deque and wakes the thread when it sleeps: no lock, no thread
    switch per call. The thread then lingers a moment so a burst is one transaction, waits
    for a moment with no call in flight (`Traffic`), builds the rows (parsing, assembling
    streams, validating) and stores them.
    """

    def __init__(self, store: Store, on_error: Callable[[str], None],
                 on_stored: Callable[[Capture], None] | None = None,
                 traffic: Traffic | None = None) -> None:
        self.store = store
        self.traffic = traffic or Traffic()
        self.on_error = on_error
        self.on_stored = on_stored or (lambda capture: None)
        # Calls, imported rows, and flush marks (an Event set once all before it is stored).
        self.pending: deque[LoggedRequest | Capture | threading.Event] = deque()
        self.wake = threading.Event()
        self.hurry = False
        self.closing = False
        self.thread = threading.Thread(target=self._run, name="reprise-record-writer",
                                       daemon=True)
        self.thread.start()

    def put(self, item: LoggedRequest | Capture) -> None:
        self.pending.append(item)  # atomic: no lock needed from any thread
        if not self.wake.is_set():
            self.wake.set()

    def put_many(self, items: list[LoggedRequest]) -> None:
        for item in items:
            self.put(item)

    def close(self) -> None:
        self.closing = True
        self.wake.set()
        self.traffic.idle.set()
        self.thread.join(30)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything put so far is stored (tests, benchmarks)."""
        mark = threading.Event()
        self.pending.append(mark)
        self.hurry = True
        self.wake.set()
        self.traffic.idle.set()
        mark.wait(timeout if self.thread.is_alive() else 0)

    def _report(self, text: str) -> None:
        with contextlib.suppress(Exception):  # a closed terminal must not stop storing
            self.on_error(text)

    def _row(self, item: LoggedRequest | Capture) -> LoggedRequest | None:
        if isinstance(item, LoggedRequest):
            return item
        try:
            provider = {"gemini": "google", "responses": "openai"}.get(item.fmt, item.fmt)
            return item.to_request(provider)
        except Exception as exc:  # one odd call must not stop the recording of the others
            self._report(f"could not record {item.path}: {exc}")
            return None

    def _run(self) -> None:
        while True:
            self.wake.wait()
            if not (self.closing or self.hurry):
                # Linger so a burst of calls is stored in one transaction: a transaction
                # per call would cost more than proxying the call.
                time.sleep(WRITE_LINGER_SECONDS)
            self.wake.clear()
            while self.pending:
                batch: list[LoggedRequest | Capture] = []
                mark = None
                while self.pending and len(batch) < MAX_WRITE_BATCH:
                    item = self.pending.popleft()
                    if isinstance(item, threading.Event):
                        mark = item
                        break
                    batch.append(item)
                if batch:
                    self._store(batch)
                if mark is not None:
                    mark.set()
            self.hurry = False
            if self.closing and not self.pending:
                return

    def _store(self, batch: list[LoggedRequest | Capture]) -> None:
        rows = []
        deadline = time.monotonic() + MAX_DEFER_SECONDS
        for item in batch:
            self.traffic.wait_quiet(deadline, lambda: self.hurry or self.closing)
            row = self._row(item)
            if row is not None:
                rows.append(row)
        if rows:
            try:
                self.store.upsert_requests(rows, source="record")
            except Exception as exc:  # a full disk must not kill the proxy
                self._report(f"could not store {len(rows)} request(s): {exc}")
        for item in batch:
            if isinstance(item, Capture):
                with contextlib.suppress(Exception):  # a closed terminal must not stop storing
                    self.on_stored(item)


class Upstream:
    """Sends calls on to the providers over long-lived keep-alive connections.

    The httpx transport is used directly rather than through a client: a proxy must not keep
    cookies between apps' calls, follow redirects or add headers, and the client's layers
    (auth, redirects, cookie jar, URL merging) cost more than the forwarding itself. Upstream
    URLs are parsed once. A proxy named in the environment (`HTTPS_PROXY`, `NO_PROXY`) is
    honoured, as httpx would; loopback is always reached directly.
    """

    def __init__(self, timeout: float, connect_timeout: float) -> None:
        self.timeout = {"connect": connect_timeout, "read": timeout, "write": timeout,
                        "pool": timeout}
        self.direct = _transport()
        self.via: dict[str, httpx.AsyncHTTPTransport] = {}

    async def send(self, method: str, url: str, headers: list[tuple[bytes, bytes]],
                   body: bytes) -> httpx.Response:
        parsed = _parse_url(url)
        transport = self.direct
        proxy = _env_proxy(parsed.scheme, parsed.host)
        if proxy is not None:
            transport = self.via.get(proxy) or self.via.setdefault(proxy, _transport(proxy))
        request = httpx.Request(method, parsed, headers=headers, content=body,
                                extensions={"timeout": self.timeout})
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in [self.direct, *self.via.values()]:
            with contextlib.suppress(Exception):
                await transport.aclose()


def _transport(proxy: str | None = None) -> httpx.AsyncHTTPTransport:
    import socket

    return httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        proxy=proxy,
        # No Nagle: a request's headers and body, written separately, leave at once.
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


@functools.lru_cache(maxsize=256)
def _parse_url(url: str) -> httpx.URL:
    return httpx.URL(url)


@functools.lru_cache(maxsize=64)
def _env_proxy(scheme: str, host: str) -> str | None:
    """The proxy the environment names for this host, if any (never for loopback)."""
    import urllib.request

    if host in ("127.0.0.1", "::1", "localhost") or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(scheme) or proxies.get("all") or None


class Recorder:
    """The proxy and the trace endpoint, sharing one store writer and one HTTP client."""

    def __init__(self, settings: RecordSettings, *,
                 log: Callable[[RecordEvent], None] | None = None) -> None:
        self.settings = settings.checked()
        self.run_id = str(uuid.uuid4())
        self.started_at = datetime.now(UTC)
        self.session_name = settings.session_name or (
            "recorded " + self.started_at.astimezone().strftime("%Y-%m-%d %H:%M"))
        self.log = log or (lambda event: None)
        self.stats = Stats()
        self.store: Store | None = None
        self.writer: Writer | None = None
        self.upstream: Upstream | None = None
        self._trace_spans: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._span_index: Any = None
        self._spans_lock = threading.Lock()
        self._run_session: SessionInfo | None = None
        self.traffic = Traffic()

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        self.store = Store(self.settings.db)
        self.writer = Writer(self.store,
                             lambda text: self.log(RecordEvent("error", text, failed=True)),
                             self._stored, self.traffic)
        self.upstream = Upstream(self.settings.timeout, self.settings.connect_timeout)

    async def close(self) -> None:
        if self.upstream is not None:
            await self.upstream.aclose()
        if self.writer is not None:
            self.writer.close()
        if self.store is not None:
            self.store.close()


    def app(self) -> Any:
        from contextlib import asynccontextmanager

        from starlette.applications import Starlette
        from starlette.routing import Route

        @asynccontextmanager
        async def lifespan(_app: Any) -> AsyncIterator[None]:
            self.open()
            try:
                yield
            finally:
                await self.close()

        return Starlette(
            routes=[
                Route("/v1/traces", self.traces, methods=["POST"]),
                # A plain ASGI endpoint: the proxy reads and writes the ASGI messages itself,
                # with no request or response objects in between.
                Route("/{path:path}", _Proxy(self)),
            ],
            lifespan=lifespan,
        )

    # -- sessions ----------------------------------------------------------------------------
    def session_for(self, headers: dict[str, str]) -> SessionInfo:
        """The session a call belongs to, from its (lower-cased) session headers."""
        prompt_id = headers.get("helicone-prompt-id") or None
        helicone = headers.get("helicone-session-id")
        if helicone:
            return SessionInfo(
                session_id=helicone,
                session_name=headers.get("helicone-session-name", ""),
                session_path=headers.get("helicone-session-path", "/"),
                prompt_id=prompt_id,
            )
        named = headers.get("x-reprise-session")
        if named:
            return SessionInfo(session_id=str(uuid.uuid5(uuid.UUID(self.run_id), named)),
                               session_name=named, prompt_id=prompt_id)
        if prompt_id is None:
            if self._run_session is None:
                self._run_session = SessionInfo(session_id=self.run_id,
                                                session_name=self.session_name)
            return self._run_session
        return SessionInfo(session_id=self.run_id, session_name=self.session_name,
                           prompt_id=prompt_id)

    # -- the proxy ---------------------------------------------------------------------------
    def upstream_url(self, fmt: str, path: str, query: str) -> str:
        upstream = UPSTREAM_OF[fmt]
        base = self.settings.upstreams.get(upstream) or DEFAULT_UPSTREAMS[upstream]
        origin, prefix, _ = _split_base(base)
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            url = origin + path
        else:
            url = base.rstrip("/") + path
        return url + (f"?{query}" if query else "")

    async def forward(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Forward one call and pass its answer back as it arrives; record it afterwards.

        Nothing here parses, validates or stores: the body is read whole (it must be sent
        whole anyway), headers are filtered in one pass, chunks are relayed as they come and
        only kept. The capture is handed to the writer thread once the answer is over.
        """
        path: str = scope["path"]
        fmt = format_for_path(path)
        raw_path = scope.get("raw_path")
        url = self.upstream_url(fmt, raw_path.decode("latin-1") if raw_path else path,
                                scope.get("query_string", b"").decode("latin-1"))
        helicone_upstream = _split_base(url)[2]
        method: str = scope["method"]
        forwarded: list[tuple[bytes, bytes]] = []
        named: dict[str, str] = {}
        length = b"0"
        for key, value in scope["headers"]:
            if key in _HOP_BY_HOP:
                if key == b"content-length":
                    length = value
                continue
            if key in _SESSION_HEADERS:
                named[key.decode("latin-1")] = value.decode("latin-1")
            if key == b"x-reprise-session" or (
                key.startswith(b"helicone-") and not helicone_upstream
            ):
                continue
            forwarded.append((key, value))
        forwarded.append((b"accept-encoding", b"identity"))
        if not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
            await _send_json(send, 413, _error(fmt, f"request body over {MAX_REQUEST_BYTES} bytes"))
            return
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the app left before sending its whole request: nothing to forward
            chunk = message.get("body", b"")
            if chunk:
                parts.append(chunk)
                size += len(chunk)
                if size > MAX_REQUEST_BYTES:
                    await _send_json(send, 413,
                                     _error(fmt, f"request body over {MAX_REQUEST_BYTES} bytes"))
                    return
            if not message.get("more_body", False):
                break
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        try:
            session = self.session_for(named)
        except ValidationError as exc:
            await _send_json(send, 400, _error(
                fmt, f"session header too long: {exc.errors()[0]['msg']}"))
            return
        capture = Capture(fmt=fmt, path=path, upstream_url=url.split("?", 1)[0], session=session,
                          request_bytes=body)
        recordable = method == "POST"
        assert self.upstream is not None
        try:
            upstream = await self.upstream.send(method, url, forwarded, body)
        except httpx.TimeoutException:
            await self._failed(send, capture, 504, "the upstream did not answer in time",
                               recordable)
            return
        except httpx.HTTPError as exc:
            await self._failed(send, capture, 502,
                               f"could not reach the upstream ({type(exc).__name__})", recordable)
            return
        raw_headers = upstream.headers.raw
        encoded = upstream.headers.get("content-encoding") not in (None, "", "identity")
        capture.begin(upstream.status_code, upstream.headers.get("content-type", ""))
        out = [(k, v) for k, v in raw_headers
               if (low := k.lower()) not in _HOP_BY_HOP and low != b"content-encoding"]
        if not capture.streamed and upstream.headers.get("content-length"):
            # A sized, non-streamed answer is one piece anyway: pass it on whole.
            await self._whole(send, upstream, capture, out, recordable, method == "HEAD")
            return
        start = {"type": "http.response.start", "status": upstream.status_code, "headers": out}
        await self._relay(send, receive, upstream, capture, start, encoded, recordable)

    async def _relay(self, send: Any, receive: Any, upstream: httpx.Response, capture: Capture,
                     start: dict[str, Any], encoded: bool, recordable: bool) -> None:
        """Pass the answer on chunk by chunk; an app that leaves aborts the upstream call.

        The status line and headers go out with the first chunk, so the app reads both at
        once. The call is handed to the writer before the app sees the end of the answer, so
        an app (or a test) that has its answer can count on the call being queued."""
        started = False

        async def pump() -> None:
            nonlocal started
            chunks = upstream.aiter_bytes() if encoded else upstream.aiter_raw()
            async for chunk in chunks:
                if chunk:
                    if not started:
                        started = True
                        await send(start)
                    await send({"type": "http.response.body", "body": chunk,
                                "more_body": True})
                    capture.feed(chunk)  # to the app first; kept for the record after
            capture.end()
            if not started:
                started = True
                await send(start)
            if recordable:
                self._record(capture)
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        pumping = asyncio.ensure_future(pump())
        # The server reports a client that went away as `http.disconnect` on receive().
        watching = asyncio.ensure_future(receive())
        try:
            await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
            if not pumping.done() and not capture.ended:
                pumping.cancel()
                with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                    await pumping
                capture.fail(499, "the app disconnected mid-response; what arrived is kept")
            else:
                await pumping
        except httpx.HTTPError as exc:
            # The app sees the connection drop, as the upstream dropped it.
            reason = f"the upstream connection broke mid-response ({type(exc).__name__})"
            capture.fail(502, reason)
            if not started:
                await _send_json(send, 502, _error(capture.fmt, reason))
        except BaseException:
            pumping.cancel()
            if capture.error is None:
                capture.fail(499, "the recorder stopped mid-response; what arrived is kept")
            raise
        finally:
            watching.cancel()
            await _close_quietly(upstream)
            if recordable and not capture.ended:
                self._record(capture)

    async def _whole(self, send: Any, upstream: httpx.Response, capture: Capture,
                     headers: list[tuple[bytes, bytes]], recordable: bool, head: bool) -> None:
        try:
            body = await upstream.aread()
        except httpx.HTTPError as exc:
            await self._failed(
                send, capture, 502,
                f"the upstream connection broke mid-response ({type(exc).__name__})", recordable)
            return
        finally:
            await _close_quietly(upstream)
        capture.feed(body)
        capture.end()
        if recordable:
            self._record(capture)
        length = upstream.headers.get("content-length", "0") if head else str(len(body))
        await send({"type": "http.response.start", "status": upstream.status_code,
                    "headers": [*headers, (b"content-length", length.encode())]})
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def _failed(self, send: Any, capture: Capture, status: int, reason: str,
                      recordable: bool) -> None:
        capture.fail(status, reason)
        body = _error(capture.fmt, reason)
        capture.begin(status, "application/json")
        capture.feed(_json_bytes(body))
        capture.end()
        capture.status = status
        if recordable:
            self._record(capture)
        await _send_json(send, status, body)

    def _record(self, capture: Capture) -> None:
        """Count the call and hand it to the writer: its row is built and stored there."""
        self.stats.requests += 1
        self.stats.sessions.add(capture.session.session_id)
        if self.writer is not None:
            self.writer.put(capture)

    def _stored(self, capture: Capture) -> None:
        """The live log line of a stored call (on the writer thread, off the request path)."""
        failed = (capture.status or 0) >= 400 or capture.error is not None
        self.stats.failed += int(failed)
        detail = f"{capture.status} {((capture.ended_at or 0) - capture.started) * 1000:.0f}ms"
        if capture.ttft_ms is not None:
            detail += f" ttft {capture.ttft_ms:.0f}ms"
        if capture.error:
            detail += f" — {capture.error}"
        self.log(RecordEvent("request", f"{capture.path} {detail}",
                             session=capture.session.session_name or capture.session.session_id,
                             failed=failed))

    # -- OTLP traces -------------------------------------------------------------------------
    async def traces(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse, Response

        raw = await request.body()
        if len(raw) > MAX_TRACES_BYTES:
            return JSONResponse({"error": "payload too large"}, 413)
        encoding = request.headers.get("content-encoding", "").lower()
        try:
            if encoding == "gzip":
                raw = _bounded_gunzip(raw)
            elif encoding == "deflate":
                raw = zlib.decompress(raw)
        except (OSError, zlib.error, ValueError) as exc:
            return JSONResponse({"error": f"bad {encoding} body: {exc}"}, 400)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        protobuf = kind in ("application/x-protobuf", "application/protobuf")
        try:
            rejected, message = await run_in_threadpool(self.ingest_traces, raw, protobuf)
        except ValueError as exc:
            self.log(RecordEvent("error", f"/v1/traces: {exc}", failed=True))
            return JSONResponse({"error": str(exc)}, 400)
        if protobuf:
            return Response(_protobuf_response(rejected, message),
                            media_type="application/x-protobuf")
        body: dict[str, Any] = {}
        if rejected:
            body = {"partialSuccess": {"rejectedSpans": rejected, "errorMessage": message}}
        return JSONResponse(body)

    def ingest_traces(self, raw: bytes, protobuf: bool) -> tuple[int, str]:
        """Import the LLM spans of one export; returns (rejected spans, first error)."""
        import json

        from core.sources import otlp
        from core.sources.importers import requests_from_calls
        from core.sources.spans import SpanIndex, calls_from_spans

        if protobuf:
            spans, errors = otlp.spans_from_protobuf(raw)
        else:
            try:
                document = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"invalid JSON ({exc})") from None
            spans, errors = otlp.spans_from_json(document)
        with self._spans_lock:
            if self._span_index is None:
                self._span_index = SpanIndex()
            touched: set[str] = set()
            for span in spans:
                self._trace_spans.setdefault(span.trace_id, {})[span.span_id] = span
                self._trace_spans.move_to_end(span.trace_id)
                touched.add(span.trace_id)
            while len(self._trace_spans) > MAX_LIVE_TRACES:
                _, dropped = self._trace_spans.popitem(last=False)
                for span_id in dropped:
                    self._span_index.spans.pop(span_id, None)
            # Parents end (and are exported) after their children: recompute the calls of
            # every trace this batch touched so paths fill in as ancestors arrive.
            batch = [s for t in touched for s in self._trace_spans[t].values()]
            calls, bad = calls_from_spans(batch, self._span_index)
        errors.extend(bad)
        requests = requests_from_calls(calls, errors)
        if requests and self.writer is not None:
            self.writer.put_many(requests)
        self.stats.spans += len(spans)
        for item in requests:
            if item.session_id:
                self.stats.sessions.add(item.session_id)
        if spans:
            self.log(RecordEvent("spans", f"/v1/traces {len(spans)} span(s),"
                                          f" {len(requests)} LLM call(s)"))
        for error in errors[:5]:
            self.log(RecordEvent("error", f"/v1/traces: {error}", failed=True))
        return len(errors), errors[0] if errors else ""


class _Proxy:
    """The proxy as a plain ASGI app (Starlette routes to it without wrapping it)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        traffic = self.recorder.traffic
        traffic.begin()
        try:
            await self.recorder.forward(scope, receive, send)
        finally:
            traffic.end()


@functools.lru_cache(maxsize=64)
def _split_base(url: str) -> tuple[str, str, bool]:
    """An upstream URL's origin, its path prefix, and whether it is Helicone's proxy."""
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/"),
            (parts.hostname or "").endswith("helicone.ai"))


async def _send_json(send: Any, status: int, value: Any) -> None:
    body = _json_bytes(value)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _close_quietly(response: httpx.Response) -> None:
    with contextlib.suppress(Exception):  # already broken: nothing left to release
        await response.aclose()


def _error(fmt: str, message: str) -> dict[str, Any]:
    """An error body in the shape the app's SDK expects from its provider."""
    if fmt == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": message}}
    return {"error": {"message": message, "type": "upstream_error", "code": None}}


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _bounded_gunzip(raw: bytes) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = decompressor.decompress(raw, MAX_TRACES_BYTES + 1)
    if len(out) > MAX_TRACES_BYTES or decompressor.unconsumed_tail:
        raise ValueError("decompressed payload too large")
    return out if out else gzip.decompress(raw)


def _protobuf_response(rejected: int, message: str) -> bytes:
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )
    except ImportError:
        return b""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message[:1000]
    return response.SerializeToString()

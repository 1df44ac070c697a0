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

import contextlib
import gzip
import queue
import threading
import time
import uuid
import zlib
from collections import OrderedDict
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
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailer", "transfer-encoding", "upgrade", "host", "content-length",
               "accept-encoding"}
_SESSION_HEADERS = ("helicone-session-id", "helicone-session-name", "helicone-session-path",
                    "helicone-prompt-id", "x-reprise-session")


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


class Writer:
    """Stores recorded requests on its own thread, in batches, in arrival order."""

    def __init__(self, store: Store, on_error: Callable[[str], None]) -> None:
        self.store = store
        self.on_error = on_error
        self.queue: queue.Queue[list[LoggedRequest | Capture] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="reprise-record-writer",
                                       daemon=True)
        self.thread.start()

    def put(self, requests: list[LoggedRequest | Capture]) -> None:
        self.queue.put(requests)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(30)

    def flush(self) -> None:
        """Wait until everything queued so far is stored (tests, benchmarks)."""
        self.queue.join()

    def _row(self, item: LoggedRequest | Capture) -> LoggedRequest | None:
        if isinstance(item, LoggedRequest):
            return item
        try:
            provider = {"gemini": "google", "responses": "openai"}.get(item.fmt, item.fmt)
            return item.to_request(provider)
        except (ValidationError, ValueError) as exc:
            self.on_error(f"could not record {item.path}: {exc}")
            return None

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                batch = list(item)
                # Linger briefly so a burst of calls is stored in one transaction: a
                # transaction per call would cost more CPU than proxying the call.
                deadline = time.monotonic() + WRITE_LINGER_SECONDS
                while len(batch) < MAX_WRITE_BATCH:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        break
                    try:
                        more = self.queue.get(timeout=wait)
                    except queue.Empty:
                        break
                    if more is None:
                        self.queue.put(None)
                        self.queue.task_done()
                        break
                    batch.extend(more)
                    self.queue.task_done()
                rows = [self._row(item) for item in batch]
                rows = [row for row in rows if row is not None]
                if rows:
                    try:
                        self.store.upsert_requests(rows, source="record")
                    except Exception as exc:  # a full disk must not kill the proxy
                        self.on_error(f"could not store {len(rows)} request(s): {exc}")
            finally:
                self.queue.task_done()


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
        self.client: httpx.AsyncClient | None = None
        self._trace_spans: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._span_index: Any = None
        self._spans_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        self.store = Store(self.settings.db)
        self.writer = Writer(self.store, lambda text: self.log(RecordEvent("error", text,
                                                                           failed=True)))
        import socket

        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout),
            follow_redirects=False,
            # No Nagle: a request's headers and body, written separately, leave at once.
            transport=httpx.AsyncHTTPTransport(
                limits=limits,
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            ),
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
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

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
        return Starlette(
            routes=[
                Route("/v1/traces", self.traces, methods=["POST"]),
                Route("/{path:path}", self.proxy, methods=methods),
            ],
            lifespan=lifespan,
        )

    # -- sessions ----------------------------------------------------------------------------
    def session_for(self, headers: Any) -> SessionInfo:
        helicone = headers.get("helicone-session-id")
        if helicone:
            return SessionInfo(
                session_id=helicone,
                session_name=headers.get("helicone-session-name", ""),
                session_path=headers.get("helicone-session-path", "/"),
                prompt_id=headers.get("helicone-prompt-id") or None,
            )
        named = headers.get("x-reprise-session")
        if named:
            return SessionInfo(session_id=str(uuid.uuid5(uuid.UUID(self.run_id), named)),
                               session_name=named,
                               prompt_id=headers.get("helicone-prompt-id") or None)
        return SessionInfo(session_id=self.run_id, session_name=self.session_name,
                           prompt_id=headers.get("helicone-prompt-id") or None)

    # -- the proxy ---------------------------------------------------------------------------
    def upstream_url(self, fmt: str, path: str, query: str) -> str:
        upstream = UPSTREAM_OF[fmt]
        base = self.settings.upstreams.get(upstream) or DEFAULT_UPSTREAMS[upstream]
        parts = urlsplit(base)
        prefix = parts.path.rstrip("/")
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            url = f"{parts.scheme}://{parts.netloc}{path}"
        else:
            url = base.rstrip("/") + path
        return url + (f"?{query}" if query else "")

    async def proxy(self, request: Any) -> Any:
        from starlette.responses import JSONResponse, StreamingResponse

        path = request.url.path
        fmt = format_for_path(path)
        url = self.upstream_url(fmt, path, request.url.query)
        helicone_upstream = (urlsplit(url).hostname or "").endswith("helicone.ai")
        length = request.headers.get("content-length") or "0"
        if not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
            return JSONResponse(_error(fmt, f"request body over {MAX_REQUEST_BYTES} bytes"), 413)
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            return JSONResponse(_error(fmt, f"request body over {MAX_REQUEST_BYTES} bytes"), 413)
        try:
            session = self.session_for(request.headers)
        except ValidationError as exc:
            return JSONResponse(_error(fmt, f"session header too long: {exc.errors()[0]['msg']}"),
                                400)
        headers = [
            (key, value) for key, value in request.headers.items()
            if key not in _HOP_BY_HOP and key != "x-reprise-session"
            and (helicone_upstream or not key.startswith("helicone-"))
        ]
        headers.append(("accept-encoding", "identity"))
        capture = Capture(fmt=fmt, path=path, upstream_url=url.split("?", 1)[0], session=session,
                          request_bytes=body)
        recordable = request.method == "POST"
        assert self.client is not None
        upstream_request = self.client.build_request(request.method, url, headers=headers,
                                                     content=body)
        try:
            upstream = await self.client.send(upstream_request, stream=True)
        except httpx.TimeoutException:
            return self._failed(capture, 504, "the upstream did not answer in time", recordable)
        except httpx.HTTPError as exc:
            return self._failed(capture, 502, f"could not reach the upstream ({type(exc).__name__})",
                                recordable)
        capture.begin(upstream.status_code, upstream.headers.get("content-type", ""))
        out_headers = {k: v for k, v in upstream.headers.items()
                       if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"}
        if upstream.headers.get("content-encoding") not in (None, "", "identity"):
            out_headers.pop("content-length", None)
        if not capture.streamed and upstream.headers.get("content-length"):
            # A sized, non-streamed answer is one piece anyway: pass it on whole, without a
            # streaming task per call.
            return await self._whole(upstream, capture, out_headers, recordable)

        async def relay() -> AsyncIterator[bytes]:
            finished = False
            try:
                async for chunk in upstream.aiter_bytes():
                    yield chunk  # to the app first; reading it for the record comes after
                    capture.feed(chunk)
                finished = True
                if not capture.complete:
                    capture.fail(502, "the stream ended before its final event")
            except httpx.HTTPError as exc:
                capture.fail(502, f"the upstream connection broke mid-response ({type(exc).__name__})")
                raise
            finally:
                if not finished and capture.error is None:
                    capture.fail(499, "the app disconnected mid-response; what arrived is kept")
                await _close_quietly(upstream)
                if recordable:
                    self._record(capture)

        return StreamingResponse(relay(), status_code=upstream.status_code, headers=out_headers)

    async def _whole(self, upstream: httpx.Response, capture: Capture,
                     headers: dict[str, str], recordable: bool) -> Any:
        from starlette.responses import JSONResponse, Response

        try:
            body = await upstream.aread()
        except httpx.HTTPError as exc:
            return self._failed(
                capture, 502,
                f"the upstream connection broke mid-response ({type(exc).__name__})", recordable)
        finally:
            await _close_quietly(upstream)
        capture.feed(body)
        if recordable:
            self._record(capture)
        headers.pop("content-length", None)  # Starlette sets it from the body
        if capture.status is None:  # pragma: no cover - begin() always ran
            return JSONResponse(_error(capture.fmt, "no status from the upstream"), 502)
        return Response(body, status_code=upstream.status_code, headers=headers)

    def _failed(self, capture: Capture, status: int, reason: str, recordable: bool) -> Any:
        from starlette.responses import JSONResponse

        capture.fail(status, reason)
        body = _error(capture.fmt, reason)
        capture.begin(status, "application/json")
        capture.feed(_json_bytes(body))
        capture.status = status
        if recordable:
            self._record(capture)
        return JSONResponse(body, status)

    def _record(self, capture: Capture) -> None:
        """Count and log the call now; build and store its row on the writer thread."""
        failed = (capture.status or 0) >= 400 or capture.error is not None
        self.stats.requests += 1
        self.stats.failed += int(failed)
        self.stats.sessions.add(capture.session.session_id)
        if self.writer is not None:
            self.writer.put([capture])
        detail = f"{capture.status} {(time.perf_counter() - capture.started) * 1000:.0f}ms"
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
            self.writer.put(requests)
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

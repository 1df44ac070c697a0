"""One way to run a reprise server: bind, announce, serve, stop cleanly.

A server binds its socket first (so `--port 0` gets a free port and the address is known),
prints `reprise NAME: listening on http://HOST:PORT` as its first line of output, then
serves an ASGI app with uvicorn. Ctrl-C (SIGINT) or SIGTERM stops accepting connections,
lets requests in flight finish (bounded by `grace` seconds) and runs the app's shutdown.
`ServerThread` runs the same thing in a background thread for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; `port=0` picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: small writes (headers, SSE chunks) leave at once
    # instead of waiting on the peer's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(512)
    sock.setblocking(False)
    return sock


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def announce(name: str, url: str) -> str:
    return f"reprise {name}: listening on {url}"


def _config(app: Any, grace: float, access_log: bool = False) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(grace)),  # uvicorn takes whole seconds
        server_header=False,
        date_header=False,
        # Servers listen on loopback only: there is no proxy in front whose
        # X-Forwarded-* headers would need reading on every request.
        proxy_headers=False,
    )


def serve(app: Any, sock: socket.socket, *, grace: float = 30.0, access_log: bool = False,
          on_server: Callable[[Any], None] | None = None) -> None:
    """Serve until Ctrl-C / SIGTERM; uvicorn finishes requests in flight before returning.

    `access_log` logs each request to stderr; `on_server` gets the uvicorn server before it
    starts (setting its `should_exit` stops it from any thread)."""
    import uvicorn

    server = uvicorn.Server(_config(app, grace, access_log))
    if on_server is not None:
        on_server(server)
    server.run(sockets=[sock])


def run(name: str, app: Any, host: str, port: int, *, grace: float = 30.0,
        echo: Callable[[str], None] | None = None) -> None:
    """Bind, print the announcement line, serve until stopped."""
    sock = bind(host, port)
    line = announce(name, address(sock))
    (echo or (lambda text: print(text, flush=True)))(line)
    try:
        serve(app, sock, grace=grace)
    finally:
        sock.close()


class ServerThread:
    """The same server in a background thread (tests, benchmarks): `with ServerThread(app)`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, grace: float = 5.0):
        import uvicorn

        self.sock = bind(host, port)
        self.url = address(self.sock)
        self._server = uvicorn.Server(_config(app, grace))
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self.sock]))

    def start(self) -> ServerThread:
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.01)
        if not self._server.started:
            raise RuntimeError("server did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fail(message: str) -> None:
    print(f"reprise: {message}", file=sys.stderr, flush=True)

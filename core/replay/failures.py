"""One sentence for a network failure: what happened, where (the URL), and what to do.

httpx says "ConnectError: All connection attempts failed" for a refused connection; the
cause is further down the exception chain, and the URL is not in the message at all.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx

_TIMEOUT_PHASE = {
    httpx.ConnectTimeout: "connecting to",
    httpx.ReadTimeout: "waiting for the answer from",
    httpx.WriteTimeout: "sending the request to",
    httpx.PoolTimeout: "waiting for a free connection to",
}


def origin(url: str) -> str:
    """`http://127.0.0.1:8000/v1` (no query string: it may carry a key)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]  # never show user:password@
    return f"{parts.scheme}://{host}{parts.path}"


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe_network_error(exc: BaseException, url: str) -> str:
    """`connection refused by http://127.0.0.1:9/v1: nothing listens there; …`."""
    where = origin(url)
    if isinstance(exc, httpx.TimeoutException):
        phase = next((text for kind, text in _TIMEOUT_PHASE.items() if isinstance(exc, kind)),
                     "waiting for")
        return (f"timed out {phase} {where}; the server is slow or overloaded: raise the"
                " timeout or lower the concurrency")
    causes = _causes(exc)
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return (f"connection refused by {where}: nothing is listening there; start the server"
                " or correct the target URL")
    if any(isinstance(c, socket.gaierror) for c in causes):
        host = urlsplit(url).hostname or where
        return f"cannot resolve the host {host} ({where}): check the target URL and the network"
    detail = str(exc) or type(exc).__name__
    return f"cannot reach {where}: {type(exc).__name__}: {detail}"

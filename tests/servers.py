"""Loopback fake LLM providers for tests: real HTTP servers on 127.0.0.1, port 0.

`FakeProvider` speaks OpenAI chat completions (`…/chat/completions`), the OpenAI Responses
API (`…/responses`), Anthropic messages (`…/messages`) and Gemini (`…:generateContent`,
`…:streamGenerateContent?alt=sse`) on one port, streaming (SSE) or not as the request asks.
Its Responses API remembers the ids it issued: a `previous_response_id` it never issued
gets a 400, as OpenAI answers for an unknown or unstored response. It records every
request it receives (path, lower-cased headers, parsed body) and can be programmed to be slow,
to fail the next N requests with 429 (+ `Retry-After`) or 500, or to drop connections.

Replies are deterministic so tests can follow text through a chained replay: by default the
reply is `reply(<system prompt>): <last user text>`; pass `reply=` to change it. A reply
function takes the parsed body and returns a string, or a dict
`{"text": str, "tool_calls": [{"id", "name", "arguments"}]}`.

    with FakeProvider(latency=0.05) as server:
        server.fail_next(2, status=429, retry_after="0")
        ... send to server.base_url + "/v1/chat/completions" ...
        assert server.received[0].headers["authorization"] == "Bearer test"

`fake_provider()` is a pytest-style generator fixture body: `yield from fake_provider()`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], "str | dict[str, Any]"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    kind: str  # "status" | "drop"
    status: int = 500
    retry_after: str | None = None
    body: Any = None


def system_and_last_user(body: dict[str, Any]) -> tuple[str, str]:
    """The system prompt and the last user message's text, for any of the served formats."""

    def text(content: Any) -> str:
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content
            )
        return ""

    system = text(body.get("system"))
    last_user = ""
    if "contents" in body or "systemInstruction" in body or "system_instruction" in body:
        instruction = body.get("systemInstruction") or body.get("system_instruction") or {}
        system = text(instruction.get("parts")) if isinstance(instruction, dict) else ""
        for content in body.get("contents") or []:
            parts = [p for p in content.get("parts") or [] if "text" in p]
            if content.get("role", "user") == "user" and parts:
                last_user = text(parts)
        return system, last_user
    if "input" in body or "instructions" in body:
        system = str(body.get("instructions") or "")
        items = body.get("input")
        items = [{"role": "user", "content": items}] if isinstance(items, str) else items or []
        for item in items:
            role = item.get("role") if isinstance(item, dict) else None
            if role in ("system", "developer"):
                system = text(item.get("content"))
            elif role == "user":
                last_user = text(item.get("content"))
        return system, last_user
    for message in body.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            system = text(message.get("content"))
        elif role == "user":
            last_user = text(message.get("content"))
    return system, last_user


def default_reply(body: dict[str, Any]) -> str:
    system, last_user = system_and_last_user(body)
    return f"reply({system}): {last_user}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of new connections must not overflow the backlog

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a cancelled replay) is expected; anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeProvider:
    """A threaded HTTP server posing as OpenAI and Anthropic. Use as a context manager."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        reply: Reply | None = None,
        chunk_delay: float = 0.0,
        record_bodies: bool = True,
    ) -> None:
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.reply = reply or default_reply
        self.record_bodies = record_bodies
        # Extra response headers per request body, e.g. a proxy's `Helicone-Id`.
        self.response_headers: Callable[[Any], dict[str, str]] | None = None
        self.received: list[Received] = []
        self.faults: list[Fault] = []
        self.rules: list[tuple[Callable[[Any], bool], Fault]] = []
        self.lock = threading.Lock()
        self.response_ids: set[str] = set()  # Responses API ids issued (and stored)
        self.active = 0
        self.max_active = 0
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming ------------------------------------------------------------------------
    def fail_next(
        self, n: int, *, status: int = 500, retry_after: str | None = None, body: Any = None
    ) -> None:
        """The next `n` requests get `status` (with `Retry-After` when given)."""
        with self.lock:
            self.faults.extend(Fault("status", status, retry_after, body) for _ in range(n))

    def drop_next(self, n: int) -> None:
        """The next `n` requests see the connection closed without a response."""
        with self.lock:
            self.faults.extend(Fault("drop") for _ in range(n))

    def fail_if(
        self, predicate: Callable[[Any], bool], *, status: int = 500, body: Any = None
    ) -> None:
        """Every request whose parsed body satisfies `predicate` gets `status`."""
        with self.lock:
            self.rules.append((predicate, Fault("status", status, None, body)))

    def bodies(self) -> list[Any]:
        return [r.body for r in self.received]

    # -- serving ----------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                self.query = self.path.partition("?")[2]
                self.path = self.path.partition("?")[0]
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = raw.decode(errors="replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                with provider.lock:
                    provider.received.append(
                        Received(self.path, headers, body if provider.record_bodies else None)
                    )
                    fault = provider.faults.pop(0) if provider.faults else None
                    for predicate, rule in provider.rules:
                        if fault is None and predicate(body):
                            fault = rule
                    provider.active += 1
                    provider.max_active = max(provider.max_active, provider.active)
                try:
                    if provider.latency:
                        time.sleep(provider.latency)
                    self._respond(body, fault)
                finally:
                    with provider.lock:
                        provider.active -= 1

            def _respond(self, body: Any, fault: Fault | None) -> None:
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None:
                    payload = fault.body or {
                        "error": {"message": f"fake {fault.status}", "type": "fake_error"}
                    }
                    extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    self._json(fault.status, payload, extra)
                    return
                if not isinstance(body, dict):
                    self._json(400, {"error": {"message": "body is not JSON"}})
                    return
                anthropic = self.path.rstrip("/").endswith("/messages")
                if self.path.rstrip("/").endswith("/responses"):
                    self._responses(body)
                    return
                if ":generateContent" in self.path or ":streamGenerateContent" in self.path:
                    self._gemini(body)
                    return
                reply = provider.reply(body)
                text = reply if isinstance(reply, str) else str(reply.get("text") or "")
                calls = [] if isinstance(reply, str) else list(reply.get("tool_calls") or [])
                model = str(body.get("model") or "fake")
                if body.get("stream"):
                    events = (_anthropic_events if anthropic else _openai_events)(
                        model, text, calls
                    )
                    self._sse(events, done=not anthropic)
                else:
                    builder = _anthropic_message if anthropic else _openai_completion
                    extra = provider.response_headers(body) if provider.response_headers else None
                    self._json(200, builder(model, text, calls), extra)

            def _responses(self, body: dict[str, Any]) -> None:
                previous = body.get("previous_response_id")
                if previous is not None and previous not in provider.response_ids:
                    self._json(400, {"error": {
                        "message": f"Previous response with id '{previous}' not found.",
                        "type": "invalid_request_error", "param": "previous_response_id",
                        "code": "previous_response_not_found"}})
                    return
                reply = provider.reply(body)
                text = reply if isinstance(reply, str) else str(reply.get("text") or "")
                calls = [] if isinstance(reply, str) else list(reply.get("tool_calls") or [])
                with provider.lock:
                    response_id = f"resp_fake{len(provider.response_ids) + 1:04d}"
                    if body.get("store", True):
                        provider.response_ids.add(response_id)
                response = _responses_object(
                    response_id, str(body.get("model") or "fake"), text, calls, previous
                )
                if body.get("stream"):
                    self._sse(_responses_events(response), done=False)
                else:
                    self._json(200, response)

            def _gemini(self, body: dict[str, Any]) -> None:
                if "model" in body or "stream" in body:
                    self._json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                               "message": "Invalid JSON payload received."}})
                    return
                reply = provider.reply(body)
                text = reply if isinstance(reply, str) else str(reply.get("text") or "")
                calls = [] if isinstance(reply, str) else list(reply.get("tool_calls") or [])
                model = self.path.rsplit("/models/", 1)[-1].split(":")[0]
                chunks = _gemini_chunks(model, text, calls)
                if ":streamGenerateContent" in self.path and "alt=sse" in self.query:
                    self._sse(chunks, done=False)
                elif ":streamGenerateContent" in self.path:
                    self._json(200, chunks)  # without alt=sse: one JSON array of chunks
                else:
                    parts = ([{"text": text}] if text else []) + [
                        {"functionCall": {"name": c["name"],
                                          "args": json.loads(c.get("arguments") or "{}")}}
                        for c in calls
                    ]
                    self._json(200, {**chunks[-1], "candidates": [{
                        "content": {"role": "model", "parts": parts},
                        "finishReason": "STOP", "index": 0}]})

            def _json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _sse(self, events: list[Any], *, done: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                # Anthropic and Responses name each event (`event: message_start`), as their
                # SDKs require; Gemini's chunks have no type and no name.
                chunks = [
                    (f"event: {e['type']}\n" if not done and isinstance(e, dict) and "type" in e
                     else "")
                    + f"data: {json.dumps(e)}\n\n"
                    for e in events
                ]
                if done:
                    chunks.append("data: [DONE]\n\n")
                for chunk in chunks:
                    data = chunk.encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                    if provider.chunk_delay:
                        time.sleep(provider.chunk_delay)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts)]


def _openai_completion(model: str, text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [
            {
                "id": c.get("id", f"call_{i}"),
                "type": "function",
                "function": {"name": c["name"], "arguments": c.get("arguments", "{}")},
            }
            for i, c in enumerate(calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": len(text.split()),
            "total_tokens": 10 + len(text.split()),
        },
    }


def _openai_events(model: str, text: str, calls: list[dict[str, Any]]) -> list[Any]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}
    events: list[Any] = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    events += [
        {**base, "choices": [{"index": 0, "delta": {"content": w}}]} for w in _words(text) if w
    ]
    for i, call in enumerate(calls):
        args = call.get("arguments", "{}")
        events.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": i,
                                    "id": call.get("id", f"call_{i}"),
                                    "type": "function",
                                    "function": {
                                        "name": call["name"],
                                        "arguments": args[: len(args) // 2],
                                    },
                                }
                            ]
                        },
                    }
                ],
            }
        )
        events.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {"index": i, "function": {"arguments": args[len(args) // 2 :]}}
                            ]
                        },
                    }
                ],
            }
        )
    events.append(
        {
            **base,
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}
            ],
        }
    )
    events.append(
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split())},
        }
    )
    return events


def _anthropic_message(model: str, text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [
        {
            "type": "tool_use",
            "id": c.get("id", f"toolu_{i}"),
            "name": c["name"],
            "input": json.loads(c.get("arguments", "{}")),
        }
        for i, c in enumerate(calls)
    ]
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": len(text.split())},
    }


def _anthropic_events(model: str, text: str, calls: list[dict[str, Any]]) -> list[Any]:
    events: list[Any] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "usage": {"input_tokens": 10, "output_tokens": 0},
            },
        }
    ]
    index = 0
    if text:
        events.append(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        )
        events += [
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}
            for w in _words(text)
            if w
        ]
        events.append({"type": "content_block_stop", "index": 0})
        index = 1
    for i, call in enumerate(calls):
        args = call.get("arguments", "{}")
        events.append(
            {
                "type": "content_block_start",
                "index": index + i,
                "content_block": {
                    "type": "tool_use",
                    "id": call.get("id", f"toolu_{i}"),
                    "name": call["name"],
                    "input": {},
                },
            }
        )
        events.append(
            {
                "type": "content_block_delta",
                "index": index + i,
                "delta": {"type": "input_json_delta", "partial_json": args},
            }
        )
        events.append({"type": "content_block_stop", "index": index + i})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": len(text.split())},
        }
    )
    events.append({"type": "message_stop"})
    return events


def _responses_object(
    response_id: str, model: str, text: str, calls: list[dict[str, Any]], previous: Any
) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if text:
        output.append({
            "id": f"msg_{response_id}", "type": "message", "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        })
    output += [
        {"id": f"fc_{response_id}_{i}", "type": "function_call", "status": "completed",
         "call_id": c.get("id", f"call_{i}"), "name": c["name"],
         "arguments": c.get("arguments", "{}")}
        for i, c in enumerate(calls)
    ]
    return {
        "id": response_id, "object": "response", "created_at": 1743840000,
        "status": "completed", "error": None, "incomplete_details": None, "model": model,
        "output": output, "previous_response_id": previous, "parallel_tool_calls": True,
        "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": 10, "output_tokens": len(text.split()),
                  "total_tokens": 10 + len(text.split())},
    }


def _responses_events(response: dict[str, Any]) -> list[Any]:
    events: list[Any] = [{"type": "response.created", "sequence_number": 0,
                          "response": {**response, "status": "in_progress", "output": []}}]
    for index, item in enumerate(response["output"]):
        if item["type"] == "message":
            events.append({"type": "response.output_item.added", "output_index": index,
                           "item": {**item, "status": "in_progress", "content": []}})
            text = item["content"][0]["text"]
            events += [
                {"type": "response.output_text.delta", "item_id": item["id"],
                 "output_index": index, "content_index": 0, "delta": word, "logprobs": []}
                for word in _words(text) if word
            ]
        else:
            args = item["arguments"]
            events.append({"type": "response.output_item.added", "output_index": index,
                           "item": {**item, "status": "in_progress", "arguments": ""}})
            events += [
                {"type": "response.function_call_arguments.delta", "item_id": item["id"],
                 "output_index": index, "delta": part}
                for part in (args[: len(args) // 2], args[len(args) // 2:])
            ]
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": response})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


def _gemini_chunks(model: str, text: str, calls: list[dict[str, Any]]) -> list[Any]:
    words = [w for w in _words(text) if w]
    chunks: list[Any] = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": w}]}, "index": 0}],
         "modelVersion": model}
        for w in words
    ]
    if calls:
        chunks.append({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": c["name"], "args": json.loads(c.get("arguments") or "{}")}}
            for c in calls]}, "index": 0}], "modelVersion": model})
    if not chunks:
        chunks.append({"candidates": [{"content": {"role": "model", "parts": []}, "index": 0}],
                       "modelVersion": model})
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    chunks[-1]["usageMetadata"] = {"promptTokenCount": 10, "candidatesTokenCount": len(words),
                                   "totalTokenCount": 10 + len(words)}
    return chunks


def fake_provider(**kwargs: Any) -> Iterator[FakeProvider]:
    """Fixture body: `@pytest.fixture def provider(): yield from fake_provider()`."""
    with FakeProvider(**kwargs) as server:
        yield server


# -- recorded sessions for replay tests -------------------------------------------------------
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"


def recorded_request(
    request_id: str,
    body: dict[str, Any],
    output: str | dict[str, Any],
    *,
    session_id: str = "s1",
    prompt_id: str | None = None,
    at: float = 0.0,
    anthropic: bool = False,
    path: str = "/",
) -> Any:
    """A `LoggedRequest` as if recorded from a provider whose reply was `output`."""
    from datetime import UTC, datetime, timedelta

    from core.models import LoggedRequest

    text = output if isinstance(output, str) else str(output.get("text") or "")
    calls = [] if isinstance(output, str) else list(output.get("tool_calls") or [])
    model = str(body.get("model") or "gpt-4o-mini")
    response = (_anthropic_message if anthropic else _openai_completion)(model, text, calls)
    created = datetime(2025, 3, 14, 17, 0, tzinfo=UTC) + timedelta(seconds=at)
    return LoggedRequest(
        id=request_id,
        created_at=created,
        response_at=created + timedelta(seconds=0.5),
        session_id=session_id,
        session_name="Debate",
        session_path=path,
        prompt_id=prompt_id,
        provider="anthropic" if anthropic else "openai",
        model=model,
        target_url=ANTHROPIC_URL if anthropic else OPENAI_URL,
        request_body=body,
        response_body=response,
        status=200,
    )


def tutor_conversation(turns: int, system: str = "You are a patient tutor.") -> list[Any]:
    """One chat conversation of ``turns`` requests, each carrying the whole history so far
    (session ``long``): the shape whose replay cost grows with the number of links."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system}]
    requests = []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Question {turn}: explain step {turn}."})
        body = {"model": "gpt-4o-mini", "messages": [dict(m) for m in messages]}
        answer = default_reply(body) + f" (turn {turn} of the lesson, explained in full)"
        requests.append(recorded_request(f"t{turn:05d}", body, answer, session_id="long", at=turn))
        messages.append({"role": "assistant", "content": answer})
    return requests


def main() -> None:
    """`python -m tests.servers [--latency S]`: serve a FakeProvider until killed.

    Prints the base URL on the first line of stdout; used by the benchmark so the server's
    threads do not share a process (and a GIL) with the engine being measured.
    """
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with FakeProvider(latency=args.latency, record_bodies=False) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()


def redirect_transport(ports: dict[str, int]) -> Any:
    """An httpx transport sending each named host to a loopback port, so a replay that
    believes it talks to `api.openai.com` over HTTPS reaches a FakeProvider (which logs the
    headers each host really received)."""
    import httpx

    class Redirect(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            port = ports[request.url.host]
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    return Redirect()

"""A deterministic tool-using agent for tests and benchmarks, in OpenAI and Anthropic shape.

The agent's behaviour is written in its system prompt: `STEPS: search(alpha); fetch(doc1)`
makes it call `search` with `{"arg": "alpha"}` in its first round, `fetch` in its second,
then answer `Answer: <every tool result it saw, joined by " | ">`. A step `a(x) & b(y)` makes
two calls in one round. Editing the prompt therefore changes which calls it makes and how
many rounds it takes. Asked to simulate a tool (the `llm` rule) it answers `simulated(ARGS)`.

`agent_session()` records such a session (every round a request, tools answered by `TOOLS`)
plus a judge request quoting the final answer, as `LoggedRequest`s.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.servers import default_reply, recorded_request

TOOLS = {"search": "results for {arg}", "fetch": "page {arg}", "lookup": "entry {arg}"}
QUESTION = "What is the capital of the moon?"
JUDGE = "You are a judge."
_STEP = re.compile(r"(\w+)\(([^)]*)\)")


def steps_of(system: str) -> list[list[tuple[str, str]]]:
    _, _, spec = system.partition("STEPS:")
    spec = spec.split("\n")[0]
    return [_STEP.findall(part) for part in spec.split(";") if _STEP.findall(part)]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            _text(p.get("content")) if isinstance(p, dict) and p.get("type") == "tool_result"
            else str(p.get("text", "")) if isinstance(p, dict) else str(p)
            for p in content
        )
    return ""


def conversation(body: dict[str, Any]) -> tuple[str, int, list[str]]:
    """(system prompt, rounds with tool calls so far, tool result texts so far)."""
    system = _text(body.get("system"))
    rounds = 0
    results: list[str] = []
    for message in body.get("messages") or []:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system = _text(content)
        elif role == "assistant":
            if message.get("tool_calls") or (
                isinstance(content, list)
                and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)
            ):
                rounds += 1
        elif role == "tool":
            results.append(_text(content))
        elif role == "user" and isinstance(content, list):
            results += [
                _text(b.get("content")) for b in content
                if isinstance(b, dict) and b.get("type") == "tool_result"
            ]
    return system, rounds, results


def agent_reply(body: dict[str, Any]) -> str | dict[str, Any]:
    """The agent: the next round's calls, or the final answer."""
    system, rounds, results = conversation(body)
    if system.startswith("You simulate the tool"):
        user = _text((body.get("messages") or [{}])[-1].get("content"))
        args = user.split("\n")[0].removeprefix("arguments: ")
        return f"simulated({args})"
    if "STEPS:" not in system:
        return default_reply(body)
    steps = steps_of(system)
    if rounds < len(steps):
        return {
            "text": "",
            "tool_calls": [
                {"id": f"call_{rounds}_{j}", "name": name,
                 "arguments": json.dumps({"arg": arg})}
                for j, (name, arg) in enumerate(steps[rounds])
            ],
        }
    return "Answer: " + " | ".join(results)


def tool_definitions(anthropic: bool) -> list[dict[str, Any]]:
    schema = {"type": "object", "properties": {"arg": {"type": "string"}}, "required": ["arg"]}
    if anthropic:
        return [{"name": n, "description": f"the {n} tool", "input_schema": schema}
                for n in TOOLS]
    return [{"type": "function", "function": {"name": n, "description": f"the {n} tool",
                                              "parameters": schema}} for n in TOOLS]


def run_tool(name: str, arguments: str) -> str:
    return TOOLS[name].format(arg=json.loads(arguments)["arg"])


def agent_session(
    system: str,
    *,
    anthropic: bool = False,
    stream: bool = False,
    session_id: str = "s1",
    prompt_id: str = "agent",
    judge: bool = True,
    model: str | None = None,
) -> list[Any]:
    """The recorded rounds of the agent answering QUESTION, then a judge quoting its answer."""
    model = model or ("claude-3-5-haiku" if anthropic else "gpt-4o-mini")
    body: dict[str, Any] = {"model": model, "tools": tool_definitions(anthropic)}
    if stream:
        body["stream"] = True
    if anthropic:
        body.update(max_tokens=512, system=system,
                    messages=[{"role": "user", "content": QUESTION}])
    else:
        body["messages"] = [{"role": "system", "content": system},
                            {"role": "user", "content": QUESTION}]
    requests = []
    n = 0
    while True:
        reply = agent_reply(body)
        requests.append(recorded_request(f"r{n + 1}", body, reply, session_id=session_id,
                                         prompt_id=prompt_id, at=n, anthropic=anthropic,
                                         path="/agent"))
        n += 1
        if isinstance(reply, str):
            answer = reply
            break
        calls = reply["tool_calls"]
        messages = list(body["messages"])
        if anthropic:
            messages.append({"role": "assistant", "content": [
                {"type": "tool_use", "id": c["id"], "name": c["name"],
                 "input": json.loads(c["arguments"])} for c in calls]})
            messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": c["id"],
                 "content": run_tool(c["name"], c["arguments"])} for c in calls]})
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]})
            messages += [{"role": "tool", "tool_call_id": c["id"],
                          "content": run_tool(c["name"], c["arguments"])} for c in calls]
        body = {**body, "messages": messages}
    if judge:
        judge_body = {"model": model, "messages": [
            {"role": "system", "content": JUDGE},
            {"role": "user", "content": f'Rate this answer 1-10: "{answer}"'}]}
        if anthropic:
            judge_body = {"model": model, "max_tokens": 100, "system": JUDGE,
                          "messages": judge_body["messages"][1:]}
        requests.append(recorded_request("judge", judge_body, default_reply(judge_body),
                                         session_id=session_id, prompt_id="judge", at=n,
                                         anthropic=anthropic, path="/judge"))
    return requests


def sent_calls(body: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (tool name, canonical arguments) an assistant turn in `body` carries."""
    found = []
    for message in body.get("messages") or []:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call["function"]
            found.append((function["name"], json.dumps(json.loads(function["arguments"]),
                                                       sort_keys=True)))
        content = message.get("content")
        if isinstance(content, list):
            found += [(b["name"], json.dumps(b["input"], sort_keys=True)) for b in content
                      if isinstance(b, dict) and b.get("type") == "tool_use"]
    return found


class LeanAgentServer:
    """The agent on a minimal HTTP/1.1 server, for benchmarks: a thread per connection,
    keep-alive, one `sendall` per response, and the latency counted from the moment a
    request has arrived (its parsing and the reply are done inside it, as a provider's are).

    `FakeProvider` (http.server, fault injection, Responses and Gemini) is the tests' server;
    its own per-request cost (header parsing, two writes per response) would be counted as
    the engine's in a benchmark. This one serves chat completions and Anthropic messages,
    streamed or not, and nothing else.
    """

    def __init__(self, latency: float = 0.0) -> None:
        import socket

        self.latency = latency
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def serve_forever(self) -> None:
        import socket
        import threading

        while True:
            conn, _ = self._socket.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: Any) -> None:
        import time

        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                arrived = time.perf_counter()
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1] if " " in lines[0] else "/"
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                raw, buffer = buffer[:length], buffer[length:]
                response = self._respond(path, raw)
                wait = arrived + self.latency - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                conn.sendall(response)

    def _respond(self, path: str, raw: bytes) -> bytes:
        from tests.servers import (
            _anthropic_events,
            _anthropic_message,
            _openai_completion,
            _openai_events,
        )

        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _http(400, b'{"error": {"message": "body is not JSON"}}', "application/json")
        anthropic = path.rstrip("/").endswith("/messages")
        reply = agent_reply(body)
        text = reply if isinstance(reply, str) else str(reply.get("text") or "")
        calls = [] if isinstance(reply, str) else list(reply.get("tool_calls") or [])
        model = str(body.get("model") or "fake")
        if not body.get("stream"):
            message = (_anthropic_message if anthropic else _openai_completion)(model, text, calls)
            return _http(200, json.dumps(message).encode(), "application/json")
        events = (_anthropic_events if anthropic else _openai_events)(model, text, calls)
        stream = "".join(
            (f"event: {e['type']}\n" if anthropic else "") + f"data: {json.dumps(e)}\n\n"
            for e in events
        ) + ("" if anthropic else "data: [DONE]\n\n")
        return _http(200, stream.encode(), "text/event-stream")


def _http(status: int, payload: bytes, content_type: str) -> bytes:
    head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Bad Request'}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


def main() -> None:
    """`python -m tests.agent_fake [--latency S]`: serve the agent until killed.

    Prints the base URL on the first line of stdout (for bench/agent_bench.py, so the
    server's threads do not share a process with the engine being measured).
    """
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = LeanAgentServer(args.latency)
    print(server.base_url, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

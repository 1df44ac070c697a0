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


def main() -> None:
    """`python -m tests.agent_fake [--latency S]`: serve the agent until killed.

    Prints the base URL on the first line of stdout (for bench/agent_bench.py, so the
    server's threads do not share a process with the engine being measured).
    """
    import argparse
    import threading

    from tests.servers import FakeProvider

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with FakeProvider(latency=args.latency, reply=agent_reply, record_bodies=False) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()

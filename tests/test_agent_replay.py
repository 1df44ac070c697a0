"""Agent sessions replayed against loopback providers whose tool calls follow the prompt."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.edits import EditSet, SystemEdit
from core.formats.convert import normalize_for_compatible
from core.replay.engine import RetryPolicy, run_replay
from core.replay.environment import ToolSettings
from core.replay.models import ReplaySpec, ReplayTarget
from core.store import Store
from tests.agent_fake import agent_reply, agent_session, sent_calls
from tests.servers import FakeProvider

FAST = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02)
RECORDED = "You research. STEPS: search(alpha); fetch(doc1)"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "agent.db") as s:
        yield s


@pytest.fixture
def server():
    with FakeProvider(reply=agent_reply) as s:
        yield s


def spec_for(server, system: str | None = None, *, tools: ToolSettings | None = None,
             **kw) -> ReplaySpec:
    edits = EditSet(system=[SystemEdit(target="agent", text=system)]) if system else EditSet()
    return ReplaySpec(session_id="s1", edits=edits, via=server.base_url,
                      tools=tools or ToolSettings(), **kw)


def made_calls(store: Store, replay_id: str) -> set[tuple[str, str]]:
    """Every call the replayed model made in this replay (name, canonical arguments)."""
    calls = set()
    for result in store.replay_results(replay_id).values():
        calls |= {(c.name, json.dumps(json.loads(c.arguments), sort_keys=True))
                  for c in result.tool_calls}
    return calls


def assert_faithful(server: FakeProvider, store: Store, replay_id: str) -> None:
    """No body carried a tool call the replayed model did not make."""
    made = made_calls(store, replay_id)
    for body in server.bodies():
        assert set(sent_calls(body)) <= made, sent_calls(body)


@pytest.mark.parametrize("anthropic", [False, True])
@pytest.mark.parametrize("stream", [False, True])
async def test_unchanged_prompt_reuses_every_recorded_result(store, server, anthropic, stream):
    recorded = agent_session(RECORDED, anthropic=anthropic, stream=stream)
    spec = ReplaySpec(session_id="s1", via=server.base_url)
    if anthropic:  # sent in its own format to the recorded endpoint, here on loopback
        recorded = [r.model_copy(update={"target_url": server.base_url + "/v1/messages"})
                    for r in recorded]
        spec = ReplaySpec(session_id="s1", allow_hosts=[server.base_url.split("://")[1]])
    store.upsert_requests(recorded)
    replay = await run_replay(store, spec, retry=FAST)
    results = store.replay_results(replay.id)
    assert replay.status == "done"
    assert [results[k].status for k in ("r1", "r2", "r3", "judge")] == ["done"] * 4
    assert [t.source for t in results["r2"].tool_results] == ["recorded"]
    assert [t.source for t in results["r3"].tool_results] == ["recorded"]
    assert results["r3"].output_text == "Answer: results for alpha | page doc1"
    assert results["r3"].similarity == 1.0
    assert not any(r.extra for r in results.values())
    # The rebuilt conversations equal the recorded ones (null content aside, which
    # OpenAI-compatible servers get as "").
    recorded = {r.id: r.request_body for r in store.session_requests("s1", bodies=True)}
    for key in ("r2", "r3"):
        expected = recorded[key] if anthropic else normalize_for_compatible(recorded[key])
        assert results[key].sent_body["messages"] == expected["messages"]


async def test_edit_adds_a_call_and_a_round(store, server):
    store.upsert_requests(agent_session(RECORDED))
    edited = "You research. STEPS: search(alpha); search(gamma); fetch(doc1)"
    replay = await run_replay(store, spec_for(server, edited), retry=FAST)
    results = store.replay_results(replay.id)
    # r2 carries alpha's recorded result; the model now asks search(gamma): no recording.
    assert [t.source for t in results["r2"].tool_results] == ["recorded"]
    assert results["r2"].tool_calls_changed
    gamma = results["r3"].tool_results[0]
    assert (gamma.name, gamma.source, gamma.is_error) == ("search", "error", True)
    assert "not available in this replay" in gamma.content
    # One round more than recorded, added after r3, then the final answer.
    extra = results["r3+1"]
    assert extra.extra and extra.after == "r3" and extra.request_id == "r3+1"
    assert [t.source for t in extra.tool_results] == ["recorded"]  # fetch(doc1) matched
    assert extra.output_text.startswith("Answer: results for alpha | Error:")
    assert extra.output_text.endswith("| page doc1")
    # The judge quoting the final answer receives the replayed one.
    judge_body = results["judge"].sent_body
    assert extra.output_text in judge_body["messages"][-1]["content"]
    assert results["r3"].answer == extra.output_text
    assert_faithful(server, store, replay.id)
    assert replay.status == "done"


async def test_edit_finishing_earlier_leaves_rounds_not_reached(store, server):
    store.upsert_requests(agent_session(RECORDED))
    replay = await run_replay(store, spec_for(server, "You research. STEPS: lookup(x)"),
                              retry=FAST)
    results = store.replay_results(replay.id)
    assert results["r1"].tool_calls[0].name == "lookup" and results["r1"].tool_calls_changed
    assert results["r2"].tool_results[0].source == "error"
    assert results["r2"].output_text.startswith("Answer: Error:")
    assert results["r3"].status == "not_reached"
    assert results["r3"].answer == results["r2"].output_text
    assert results["r3"].note == "the replayed model finished at agent #2"  # a label, no id
    assert results["r2"].output_text in results["judge"].sent_body["messages"][-1]["content"]
    assert len(server.bodies()) == 3  # r1, r2, judge
    assert_faithful(server, store, replay.id)
    assert replay.status == "done"


async def test_no_tools_at_all_marks_every_later_round_not_reached(store, server):
    store.upsert_requests(agent_session(RECORDED))
    replay = await run_replay(store, spec_for(server, "You research. No tools."), retry=FAST)
    results = store.replay_results(replay.id)
    assert [results[k].status for k in ("r1", "r2", "r3")] == ["done", "not_reached",
                                                                "not_reached"]
    assert results["r1"].output_text in results["judge"].sent_body["messages"][-1]["content"]


async def test_extra_rounds_stop_at_the_limit(store, server):
    store.upsert_requests(agent_session("STEPS: search(a)"))
    many = "STEPS: " + "; ".join(f"search(q{i})" for i in range(8))
    spec = spec_for(server, many, tools=ToolSettings(max_extra_turns=3))
    replay = await run_replay(store, spec, retry=FAST)
    results = store.replay_results(replay.id)
    extras = sorted(k for k in results if "+" in k)
    assert extras == ["r2+1", "r2+2", "r2+3"]
    assert [results[k].after for k in extras] == ["r2", "r2+1", "r2+2"]
    assert results["r2+3"].tool_calls and "max-extra-turns" in results["r2+3"].note
    assert len(server.bodies()) == 2 + 3 + 1  # r1, r2, three added rounds, judge


@pytest.mark.parametrize("rule,expected", [
    ("stub:NO DATA", "NO DATA"),
    ("nearest", "results for alpha"),
    ("llm", 'simulated({"arg": "gamma"})'),
])
async def test_rules_answer_unseen_calls(store, server, rule, expected):
    store.upsert_requests(agent_session(RECORDED))
    tools = ToolSettings.parse(rule)
    edited = "You research. STEPS: search(gamma)"
    replay = await run_replay(store, spec_for(server, edited, tools=tools), retry=FAST)
    result = store.replay_results(replay.id)["r2"]
    assert result.tool_results[0].source == rule.split(":")[0]
    assert result.tool_results[0].content == expected
    assert result.output_text == f"Answer: {expected}"


async def test_per_tool_rule_overrides_the_default(store, server, tmp_path):
    store.upsert_requests(agent_session(RECORDED))
    stub = tmp_path / "stub.txt"
    stub.write_text("from a file")
    tools = ToolSettings.parse("stub:default", [("lookup", f"stub:@{stub}")])
    edited = "You research. STEPS: search(zz) & lookup(k)"
    replay = await run_replay(store, spec_for(server, edited, tools=tools), retry=FAST)
    results = store.replay_results(replay.id)["r2"].tool_results
    assert [(r.name, r.content) for r in results] == [("search", "default"),
                                                       ("lookup", "from a file")]


TOOL_SCRIPT = """
import json, os, sys
call = json.load(sys.stdin)
keys = [k for k in os.environ if "KEY" in k.upper() or "TOKEN" in k.upper()]
print(f"ran {call['name']} on {call['arguments']['arg']} id={call['id']} keys={keys}", end="")
"""


async def test_exec_rule_runs_a_command_without_keys(store, server, tmp_path, monkeypatch):
    store.upsert_requests(agent_session(RECORDED))
    script = tmp_path / "tool.py"
    script.write_text(TOOL_SCRIPT)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "t")
    tools = ToolSettings.parse(None, [("search", f"exec:{sys.executable} {script}")])
    edited = "You research. STEPS: search(gamma); search(alpha)"
    replay = await run_replay(store, spec_for(server, edited, tools=tools), retry=FAST)
    results = store.replay_results(replay.id)
    first = results["r2"].tool_results[0]
    assert first.source == "exec" and not first.is_error
    assert first.content == "ran search on gamma id=call_0_0 keys=[]"
    # search(alpha) was recorded: the recording answers before the rule.
    assert results["r3"].tool_results[0].source == "recorded"


async def test_mcp_rule_calls_a_real_stdio_server(store, server):
    pytest.importorskip("mcp")
    store.upsert_requests(agent_session(RECORDED))
    command = f"{sys.executable} {Path(__file__).parent / 'mcp_tool_server.py'}"
    tools = ToolSettings.parse(f"mcp:{command}")
    edited = "You research. STEPS: search(gamma); lookup(moon); fetch(missing)"
    replay = await run_replay(store, spec_for(server, edited, tools=tools), retry=FAST)
    results = store.replay_results(replay.id)
    assert results["r2"].tool_results[0].source == "mcp"
    assert results["r2"].tool_results[0].content == "mcp search: gamma"
    assert results["r3"].tool_results[0].content == "mcp lookup: moon"
    assert results["r3+1"].tool_results[0].is_error  # the server raised for this one
    assert replay.status == "done"


async def test_stop_then_resume_continues_where_it_stopped(store, server):
    store.upsert_requests(agent_session(RECORDED))
    tools = ToolSettings.parse("stop")
    edited = "You research. STEPS: search(alpha); search(new); fetch(doc1)"
    replay = await run_replay(store, spec_for(server, edited, tools=tools), retry=FAST)
    assert replay.status == "needs_tool_result"
    results = store.replay_results(replay.id)
    waiting = results["r3"]
    assert waiting.status == "needs_tool_result"
    assert [(p.call_id, p.name, p.arguments) for p in waiting.pending_calls] == [
        ("call_1_0", "search", '{"arg": "new"}')]
    assert results["judge"].status == "queued"  # waits for the branch's final answer
    assert results["judge"].error == "waits for agent #3, which needs a tool result"
    sent_before = len(server.bodies())
    assert sent_before == 2  # r1, r2; nothing after the stop
    again = await run_replay(store, spec_for(server), resume_id=replay.id, retry=FAST,
                             target=ReplayTarget(via=server.base_url),
                             tool_results={"call_1_0": "the person's result"})
    assert again.status == "done"
    results = store.replay_results(replay.id)
    assert [t.source for t in results["r3"].tool_results] == ["user"]
    extra = results["r3+1"]
    assert extra.output_text == (
        "Answer: results for alpha | the person's result | page doc1")
    # r1 and r2 were not sent again: the resumed run starts at r3.
    assert len(server.bodies()) == sent_before + 3  # r3, r3+1, judge
    assert server.bodies()[sent_before]["messages"][-1]["content"] == "the person's result"
    assert_faithful(server, store, replay.id)


async def test_stop_in_an_added_round_resumes_there(store, server):
    store.upsert_requests(agent_session("STEPS: search(alpha)", judge=False))
    tools = ToolSettings.parse("stop")
    edited = "STEPS: search(alpha); lookup(z)"
    replay = await run_replay(store, spec_for(server, edited, tools=tools), retry=FAST)
    assert replay.status == "needs_tool_result"
    pending = store.replay_results(replay.id)["r2+1"]
    assert pending.extra and pending.pending_calls[0].name == "lookup"
    again = await run_replay(store, spec_for(server), resume_id=replay.id, retry=FAST,
                             target=ReplayTarget(via=server.base_url),
                             tool_results={pending.pending_calls[0].call_id: "Z"})
    assert again.status == "done"
    final = store.replay_results(replay.id)["r2+1"]
    assert final.status == "done" and final.tool_results[0].source == "user"
    assert final.output_text == "Answer: results for alpha | Z"


async def test_anthropic_session_to_a_compatible_target(store, server):
    store.upsert_requests(agent_session(RECORDED, anthropic=True))
    edited = "You research. STEPS: search(alpha); lookup(q); fetch(doc1)"
    replay = await run_replay(store, spec_for(server, edited), retry=FAST)
    results = store.replay_results(replay.id)
    assert replay.status == "done"
    body = results["r3"].sent_body
    assert body["messages"][0] == {"role": "system", "content": edited}
    assistants = [m for m in body["messages"] if m["role"] == "assistant"]
    assert all(m["content"] == "" for m in assistants)  # never null for compatible servers
    assert [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"] == [
        "call_0_0", "call_1_0"]
    assert results["r3+1"].output_text.endswith("| page doc1")
    assert_faithful(server, store, replay.id)


async def test_isolated_mode_sends_the_recorded_conversations(store, server):
    store.upsert_requests(agent_session(RECORDED))
    edited = "You research. STEPS: lookup(x)"
    replay = await run_replay(store, spec_for(server, edited, mode="isolated"), retry=FAST)
    results = store.replay_results(replay.id)
    assert set(results) == {"r1", "r2", "r3", "judge"}
    assert all(not r.tool_results for r in results.values())
    assert sent_calls(results["r3"].sent_body) == [("search", '{"arg": "alpha"}'),
                                                  ("fetch", '{"arg": "doc1"}')]

"""Pure parts of the replay: the plan (dependencies, skips) and the host/key binding."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.models import LoggedRequest
from core.replay.models import ReplaySpec
from core.replay.plan import plan_replay
from core.replay.transport import (
    TargetRefused,
    credentials_for,
    helicone_session_headers,
    host_allowed,
    join_base,
    redact,
    secrets_in,
    target_url,
)
from core.sources.files import import_files
from core.store import Store
from tests.servers import recorded_request

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "helicone"
ENV = {"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a", "HELICONE_API_KEY": "sk-h",
       "CUSTOM": "sk-c"}
LONG = "This is a long enough recorded answer to link."


def body(*turns: tuple[str, str]) -> dict:
    return {"model": "m", "messages": [{"role": r, "content": t} for r, t in turns]}


def test_links_assistant_turns_and_quotes_but_not_short_texts():
    reqs = [
        recorded_request("a", body(("user", "q")), LONG, at=0),
        recorded_request("short", body(("user", "q2")), "ok", at=1),
        recorded_request("b", body(("user", "q"), ("assistant", LONG), ("user", "more")), "x",
                         at=2),
        recorded_request("c", body(("user", f"Judge: «{LONG}» ok")), "y", at=3),
        recorded_request("d", body(("user", "ok fine")), "z", at=4),
        recorded_request("e", body(("system", LONG), ("user", "z")), "w", at=5),
    ]
    plan = plan_replay(reqs, ReplaySpec(session_id="s1"))
    deps = {i.id: i.depends_on for i in plan.items}
    assert deps == {"a": [], "short": [], "b": ["a"], "c": ["a"], "d": [], "e": []}
    assert plan.depth() == 2
    assert plan.dependents()["a"] == ["b", "c"]
    isolated = plan_replay(reqs, ReplaySpec(session_id="s1", mode="isolated"))
    assert all(not i.depends_on for i in isolated.items)


def test_tool_call_dependencies():
    call = {"id": "call_1", "name": "search", "arguments": "{}"}
    after = body(("user", "find"))
    after["messages"] += [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search",
                                                                "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
    ]
    reqs = [recorded_request("t", body(("user", "find")), {"tool_calls": [call]}),
            recorded_request("u", after, "done", at=1)]
    plan = plan_replay(reqs, ReplaySpec(session_id="s1"))
    assert plan.get("u").depends_on == ["t"] and plan.get("u").tool_depends_on == ["t"]


def test_unreplayable_requests_are_skipped_with_reasons():
    emb = recorded_request("emb", {"model": "text-embedding-3-small", "input": "x"}, "")
    none = recorded_request("none", {"model": "m"}, "")
    none.request_body = None
    plan = plan_replay([emb, none], ReplaySpec(session_id="s1"))
    reasons = {i.id: i.skip_reason for i in plan.skipped}
    assert "embeddings" in reasons["emb"] and "not logged" in reasons["none"]


def test_fixture_session_plans(tmp_path):
    store = Store(tmp_path / "f.db")
    import_files(store, sorted(FIXTURES.glob("*.json")))
    sid = "5b0c2f1e-8a3d-4c57-9e0b-2f6a1d9c7e41"
    requests = store.session_requests(sid, bodies=True)
    plan = plan_replay(requests, ReplaySpec(session_id=sid))
    assert len(plan.items) == len(requests) >= 4
    for item in plan.items:
        assert item.skip_reason is not None or item.format_name in ("openai", "anthropic")
        if item.skip_reason is None:
            url = target_url(item.request, item.format_name, ReplaySpec(session_id=sid))
            assert url.startswith(("https://api.openai.com/", "https://api.anthropic.com/",
                                   "https://oai.helicone.ai/"))


@pytest.mark.parametrize(("url", "expected"), [
    ("https://api.openai.com/v1/chat/completions", {"Authorization": "Bearer sk-o"}),
    ("https://oai.helicone.ai/v1/chat/completions",
     {"Authorization": "Bearer sk-o", "Helicone-Auth": "Bearer sk-h"}),
    ("https://api.anthropic.com/v1/messages", {"x-api-key": "sk-a"}),
    ("https://anthropic.helicone.ai/v1/messages",
     {"x-api-key": "sk-a", "Helicone-Auth": "Bearer sk-h"}),
    ("https://gateway.helicone.ai/v1/chat/completions", {"Helicone-Auth": "Bearer sk-h"}),
    ("https://evilhelicone.ai/v1/chat/completions", {}),
    ("https://api.openai.com.evil.example/v1/chat/completions", {}),
    ("http://api.openai.com/v1/chat/completions", {}),  # never in clear text
    ("https://localhost:11434/v1/chat/completions", {}),
])
def test_credentials_follow_the_host(url, expected):
    assert credentials_for(url, ENV) == expected


def test_custom_key_only_for_its_base():
    base = "http://127.0.0.1:11434/v1"
    assert credentials_for("http://127.0.0.1:11434/v1/chat/completions", ENV,
                           custom_base=base, custom_key_env="CUSTOM") == {
        "Authorization": "Bearer sk-c"}
    assert credentials_for("http://127.0.0.1:9999/v1/chat/completions", ENV,
                           custom_base=base, custom_key_env="CUSTOM") == {}
    assert credentials_for("https://api.openai.com/v1/chat/completions", ENV,
                           custom_base=base, custom_key_env="CUSTOM") == {
        "Authorization": "Bearer sk-o"}


def _req(url: str | None = None, target: str | None = None) -> LoggedRequest:
    r = recorded_request("x", body(("user", "q")), "a", prompt_id="p")
    r.request_url, r.target_url = url, target
    return r


def test_targets():
    spec = ReplaySpec(session_id="s1")
    assert target_url(_req(target="https://api.openai.com"), "openai", spec) == (
        "https://api.openai.com/v1/chat/completions")
    assert target_url(_req(url="https://oai.helicone.ai/v1/chat/completions"), "openai",
                      spec) == "https://oai.helicone.ai/v1/chat/completions"
    assert target_url(_req(), "anthropic", spec) == "https://api.anthropic.com/v1/messages"
    with pytest.raises(TargetRefused):
        target_url(_req(target="https://evil.example/v1/chat/completions"), "openai", spec)
    allowed = ReplaySpec(session_id="s1", allow_hosts=["evil.example"])
    assert target_url(_req(target="https://evil.example/x"), "openai", allowed)
    helicone = ReplaySpec(session_id="s1", via="helicone")
    assert target_url(_req(), "anthropic", helicone) == (
        "https://anthropic.helicone.ai/v1/messages")
    custom = ReplaySpec(session_id="s1", via="http://h:8000")
    assert target_url(_req(), "openai", custom) == "http://h:8000/v1/chat/completions"
    assert join_base("http://h/v1/", "openai") == "http://h/v1/chat/completions"
    with pytest.raises(TargetRefused):
        target_url(_req(), "openai", ReplaySpec(session_id="s1", via="ftp://x"))
    assert host_allowed("http://127.0.0.1:8000/v1", ["127.0.0.1:8000"])
    assert not host_allowed("http://127.0.0.1:8001/v1", ["127.0.0.1:8000"])


def test_helicone_headers_and_redaction():
    h = helicone_session_headers(_req(), replay_id="new")
    assert h == {"Helicone-Session-Id": "new", "Helicone-Session-Path": "/",
                 "Helicone-Property-Replay-Of": "s1", "Helicone-Session-Name": "Debate",
                 "Helicone-Prompt-Id": "p"}
    secrets = secrets_in({"Authorization": "Bearer sk-o-123", "Content-Type": "json"})
    assert secrets == ["Bearer sk-o-123", "sk-o-123"]
    assert redact({"e": ["key sk-o-123!"]}, secrets) == {"e": ["key ***!"]}


def test_long_conversation_plans_without_rescanning_its_history():
    """2,000 requests each carrying the last 400 turns: each message is searched once."""
    reqs, history = [], []
    for k in range(2000):
        history.append({"role": "user", "content": f"question {k}, please answer it"})
        output = f"answer {k}: " + "lorem ipsum dolor sit amet " * 7
        reqs.append(recorded_request(
            f"r{k:04d}", {"model": "m", "messages": history[-400:]}, output, at=k))
        history.append({"role": "assistant", "content": output})
    plan = plan_replay(reqs, ReplaySpec(session_id="s1"))
    ids = [r.id for r in reqs]
    assert plan.get("r1999").depends_on == ids[1799:1999]
    assert plan.get("r0001").depends_on == ["r0000"]
    assert plan.depth() == 2000
    # One index entry per distinct message, however many requests repeat it (the time this
    # takes is measured in bench/chain_bench.py, not asserted here).
    assert len(plan.contained) == 2 * 2000 - 1
    assert plan.contained[history[2]["content"]] == []
    assert plan.contained[history[1]["content"]] == [history[1]["content"].strip()]


def test_base_url_of_a_known_provider_without_a_key_variable_gets_its_own_key():
    url = "https://api.openai.com/v1/chat/completions"
    assert credentials_for(url, ENV, custom_base="https://api.openai.com/v1") == {
        "Authorization": "Bearer sk-o"}
    assert credentials_for(url, ENV, custom_base="https://api.openai.com/v1",
                           custom_key_env="CUSTOM") == {"Authorization": "Bearer sk-c"}
    assert credentials_for("http://127.0.0.1:11434/v1/chat/completions", ENV,
                           custom_base="http://127.0.0.1:11434/v1") == {}

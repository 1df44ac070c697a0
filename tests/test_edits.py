"""Edits as data: system prompts by prompt id or request, parameters; bodies never mutated."""

from __future__ import annotations

import copy

from core.edits import EditSet, ParamEdit, SystemEdit
from tests.servers import recorded_request


def test_openai_system_and_developer_roles_and_params():
    body = {"model": "gpt-4o", "temperature": 1, "messages": [
        {"role": "developer", "content": "dev"}, {"role": "user", "content": "hi"}]}
    request = recorded_request("r1", body, "x", prompt_id="p")
    before = copy.deepcopy(body)
    edits = EditSet(system=[SystemEdit(target="p", text=" more", mode="append")],
                    params=[ParamEdit(temperature=0.1, max_tokens=5),
                            ParamEdit(scope="prompt", target="other", model="nope")])
    sent = edits.apply(request)
    assert sent["messages"][0] == {"role": "developer", "content": "dev more"}
    assert sent["temperature"] == 0.1 and sent["max_tokens"] == 5 and sent["model"] == "gpt-4o"
    assert request.request_body == before


def test_anthropic_blocks_and_request_scope_wins():
    body = {"model": "claude", "max_tokens": 10, "system": [
        {"type": "text", "text": "old", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}]}
    request = recorded_request("r1", body, "x", prompt_id="p", anthropic=True)
    edits = EditSet().set_system(SystemEdit(target="p", text="by prompt")).set_system(
        SystemEdit(scope="request", target="r1", text="by request"))
    sent = edits.apply(request)
    assert sent["system"] == [{"type": "text", "text": "by request",
                               "cache_control": {"type": "ephemeral"}}]
    assert body["system"][0]["text"] == "old"
    roundtrip = EditSet.model_validate_json(edits.model_dump_json())
    assert roundtrip == edits
    other = recorded_request("r2", body, "x", prompt_id="q", anthropic=True)
    assert edits.apply(other)["system"] == body["system"]


def test_many_substitutions_in_one_walk_match_one_at_a_time() -> None:
    from core.formats import substitute_in_messages, substitute_many_in_messages

    long_answer = "Carbon dividends return the revenue to every household equally."
    short_answer = "Carbon dividends return the revenue"
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Judge."},
            {"role": "assistant", "content": long_answer},
            {"role": "user", "content": [{"type": "text", "text": f'Rate: "{long_answer}"'}]},
            {"role": "user", "content": f"Earlier you said: {short_answer}."},
        ],
    }
    replacements = {long_answer: "NEW LONG", short_answer: "NEW SHORT"}
    expected = body
    for old in sorted(replacements, key=len, reverse=True):
        expected = substitute_in_messages(expected, old, replacements[old])
    assert substitute_many_in_messages(body, replacements) == expected
    # With the plan's index only the strings known to be in a message are tried there.
    known = {
        long_answer: [long_answer],
        f'Rate: "{long_answer}"': [long_answer],
        f"Earlier you said: {short_answer}.": [short_answer],
    }
    assert substitute_many_in_messages(body, replacements, known) == expected
    assert body["messages"][1]["content"] == long_answer  # never mutated
    assert substitute_many_in_messages(body, {}) is body

"""Anthropic sessions replayed against OpenAI-compatible endpoints (local model, Ollama…)."""

from __future__ import annotations

import json
from pathlib import Path

from core.demo import demo_store_copy
from core.formats.convert import anthropic_to_openai
from core.replay.engine import run_replay
from core.replay.models import ReplaySpec
from core.store import Store
from tests.servers import FakeProvider


def test_conversation_tools_and_sampling_are_translated() -> None:
    body = {
        "model": "claude-3-5-haiku-20241022",
        "max_tokens": 300,
        "temperature": 0.2,
        "stop_sequences": ["END"],
        "stream": True,
        "system": [{"type": "text", "text": "You triage.", "cache_control": {"type": "x"}}],
        "tools": [{"name": "lookup", "description": "Find", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "lookup"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Ticket 1"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"q": "1"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": "found [bold]x[/bold]",
                    },
                    {"type": "text", "text": "And now?"},
                ],
            },
        ],
    }
    original = json.dumps(body, sort_keys=True)
    converted = anthropic_to_openai(body)
    assert json.dumps(body, sort_keys=True) == original  # never mutated
    assert converted["messages"] == [
        {"role": "system", "content": "You triage."},
        {"role": "user", "content": "Ticket 1"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "tu_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "tu_1", "content": "found [bold]x[/bold]"},
        {"role": "user", "content": "And now?"},
    ]
    assert converted["max_tokens"] == 300 and converted["temperature"] == 0.2
    assert converted["stop"] == ["END"]
    assert converted["stream_options"] == {"include_usage": True}
    assert converted["tools"][0]["function"]["parameters"] == {"type": "object"}
    assert converted["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}


async def test_anthropic_session_replays_against_an_openai_compatible_url(tmp_path: Path) -> None:
    with Store(demo_store_copy(tmp_path)) as store, FakeProvider() as provider:
        session = next(s.id for s in store.list_sessions() if s.name == "Support Triage")
        replay = await run_replay(
            store, ReplaySpec(session_id=session, via=provider.base_url), env={}
        )
        results = store.replay_results(replay.id)
        assert replay.status == "done" and len(results) == 3
        assert {r.path for r in provider.received} == {"/v1/chat/completions"}
        for result in results.values():
            assert result.sent_body["messages"][0]["role"] == "system"
            assert "max_tokens" in result.sent_body and "system" not in result.sent_body
            assert result.output_text
            assert result.similarity is not None

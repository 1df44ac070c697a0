"""Planning a long agent session reads each repeated message once, and reads it the same."""

from __future__ import annotations

from core.formats import format_named
from core.replay.plan import _MessageReader


def test_reader_reuses_the_shared_beginning_and_reads_like_the_format():
    chat = format_named("openai")
    system = {"role": "system", "content": "You research."}
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{}"}}]}
    bodies = [
        {"messages": [system, {"role": "user", "content": "q"}]},
        {"messages": [system, {"role": "user", "content": "q"}, call,
                      {"role": "tool", "tool_call_id": "c1", "content": "r"}]},
        {"messages": [system, {"role": "user", "content": "other"}, "not a message", call]},
        {"messages": [system, {"role": "user", "content": {"odd": ["shape"]}}]},
        {"messages": [system, {"role": "tool", "tool_calls": "not a list"}]},
        {"messages": "not a list"},
    ]
    reader = _MessageReader()
    for body in bodies:
        assert reader.read(chat, body) == chat.messages(body)
    # A message already read is not read again: the same object comes back.
    again = _MessageReader()
    first = again.read(chat, bodies[1])
    assert again.read(chat, {"messages": [*bodies[1]["messages"], system]})[2] is first[2]


def test_a_turn_calling_other_tools_is_not_similar_to_the_recording() -> None:
    """Similarity compares what a turn answered, tool calls included (ids aside, arguments
    canonical): the same empty text calling another tool is a change."""
    from core.diff import similarity
    from core.formats import ToolCall
    from core.replay.plan import compared_answer

    recorded = [ToolCall(id="a", name="search", arguments='{"q": "alpha", "n": 1}')]
    same = [ToolCall(id="b", name="search", arguments='{"n":1,"q":"alpha"}')]
    other = [ToolCall(id="c", name="lookup", arguments='{"q": "moon"}')]
    assert compared_answer("hello", []) == "hello"
    assert similarity(compared_answer("", recorded), compared_answer("", same)) == 1.0
    assert similarity(compared_answer("", recorded), compared_answer("", other)) < 1.0

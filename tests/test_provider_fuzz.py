"""Any JSON in a Responses API or Gemini body or response is read without an exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.formats import format_named

KEYS = ["input", "instructions", "prompt", "previous_response_id", "conversation", "tools",
        "output", "output_text", "status", "usage", "error", "type", "response", "role",
        "content", "text", "summary", "call_id", "arguments", "name", "contents", "parts",
        "systemInstruction", "system_instruction", "functionCall", "functionResponse",
        "candidates", "usageMetadata", "generationConfig", "functionDeclarations",
        "parameters", "args", "streamed_data", "encrypted_content", "thought", "id"]
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    max_leaves=25,
)
bodies = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)


@settings(max_examples=100, deadline=None)
@given(body=bodies, response=values)
def test_any_json_is_read_without_an_exception(body: dict, response: object) -> None:
    for name in ("responses", "gemini"):
        fmt = format_named(name)
        fmt.messages(body)
        fmt.system_prompts(body)
        fmt.tools(body)
        fmt.notes(body)
        fmt.output(response)
        fmt.response_problem(response)
        fmt.to_chat(body)
        fmt.with_system(body, "x", append=True)
        fmt.with_params(body, {"temperature": 0.5, "max_tokens": 5})
        fmt.substitute_many(body, {"a": "b"})
        assembler = fmt.stream_assembler()
        assembler.feed(response)
        assembler.body()
        assembler.problem()
        codec = fmt.conversation
        for message in codec.raw_messages(body):
            codec.calls_in(message)
            codec.answers_in(message)

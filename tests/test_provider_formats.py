"""Reading what Helicone logs from each provider: Responses API, Gemini, Azure, Anthropic extras.

The rows in tests/fixtures/providers wrap request/response bodies spelled exactly as the
providers' wire formats define them (see that folder's README); they are imported into a real
store and shown through the real CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.edits import EditSet, ParamEdit, SystemEdit
from core.formats import detect_format, format_named, not_replayable_reason
from core.models import LoggedRequest
from core.sources.files import import_files
from core.store import Store
from tui.cli import cli

PROVIDERS = Path(__file__).resolve().parent / "fixtures" / "providers"
RESP = "7a1d0c2e-0000-4a01-8b01-00000000000"
GEM = "9e2c4b61-0000-4c3d-8e9f-00000000000"
ANT = "c4d5e6f7-0000-4d5e-9f0a-00000000000"
AZURE = "a2b3c4d5-0000-4e5f-8a9b-000000000001"
LONE = "e1f2a3b4-0000-4c5d-9e8f-00000000000"


def rows(name: str) -> list[dict]:
    return json.loads((PROVIDERS / f"{name}.json").read_text())


def request(name: str, suffix: str) -> LoggedRequest:
    for row in rows(name):
        if row["request_id"].endswith(suffix):
            return LoggedRequest.from_helicone_row(row)
    raise KeyError(suffix)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("providers") / "providers.db"
    with Store(path) as store:
        counts = import_files(store, sorted(PROVIDERS.glob("*.json")))
    assert not counts.errors and counts.imported == 15
    return path


def show(db: Path, request_id: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), "show", request_id])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_provider_row_is_detected() -> None:
    expected = {"responses": "responses", "gemini": "gemini", "anthropic": "anthropic",
                "azure": "openai"}
    for name, fmt_name in expected.items():
        for row in rows(name):
            req = LoggedRequest.from_helicone_row(row)
            fmt = detect_format(req.request_body, req.provider, req.target_url)
            assert fmt is not None and fmt.name == fmt_name, row["request_id"]
            assert not_replayable_reason(req.request_body, req.provider, req.target_url) is None


def test_responses_agent_shows_reasoning_calls_outputs_and_answer(db: Path) -> None:
    first = show(db, RESP + "1")
    assert "[system]" in first and "concise travel assistant" in first
    assert "pack an umbrella for Lisbon" in first
    assert "Checking the forecast" in first  # the reasoning summary of the answer
    assert 'get_weather({"city":"Lisbon"})' in first

    second = show(db, RESP + "2")
    assert "[tool] ← call_Lx9mQ2vT8rW4" in second and "light rain" in second
    assert "(reasoning) **Checking the forecast**" in second  # reasoning item in the input
    assert "Yes, pack an umbrella" in second and "Rain is likely" in second

    streamed = show(db, RESP + "3")  # Helicone's consolidated stream: the completed event
    assert "continues response resp_67f1a2b3c4d5e6f7aaaa0002" in streamed
    assert "Tomorrow morning should be drier" in streamed

    prompted = show(db, RESP + "4")
    assert "stored prompt pmpt_68a1b2c3d4e5f60718293a4b version 3" in prompted
    assert "city=Lisbon" in prompted and "Bring a light rain jacket" in prompted


def test_gemini_shows_system_calls_results_and_streamed_answer(db: Path) -> None:
    first = show(db, GEM + "1")
    assert "flight-booking assistant" in first and "Lisbon to Berlin" in first
    assert 'find_flights({"date": "2025-05-02", "destination": "BER", "origin": "LIS"})' in first
    second = show(db, GEM + "2")
    assert "TP 550" in second and "[tool]" in second
    assert "I found TP 550 on 2025-05-02" in second and "Shall I book it?" in second
    vertex = show(db, GEM + "3")  # snake_case fields, Vertex URL
    assert "Answer in one sentence." in vertex and "Berlin Brandenburg (BER)" in vertex


def test_anthropic_thinking_openai_shaped_answers_and_stream_artefacts(db: Path) -> None:
    first = show(db, ANT + "1")
    assert "(reasoning) The user wants NVDA's price" in first and "[redacted thinking]" in first
    assert 'get_stock_price({"ticker": "NVDA"})' in first
    second = show(db, ANT + "2")  # OpenAI-shaped response with the blocks as a JSON string
    assert "NVDA is trading at 118.42 USD, up 2.1% today." in second
    assert '"type": "text"' not in second and "Price came back" in second
    third = show(db, ANT + "3")
    assert "undefined" not in third and "About 109.80 EUR" in third


def test_azure_stream_reads_and_takes_the_model_from_the_row(db: Path) -> None:
    out = show(db, AZURE)
    assert "gpt-4o" in out and "Password-reset emails are not reaching the customer." in out


def test_unknown_and_embeddings_show_pretty_json_with_the_reason(db: Path) -> None:
    bedrock = show(db, LONE + "4")
    assert "not replayable: unknown request format for provider BEDROCK" in bedrock
    assert '"inputText": "Say hello"' in bedrock and '"outputText": "Hello!"' in bedrock
    assert "{'" not in bedrock  # never a Python repr
    embeddings = show(db, LONE + "3")
    assert "embeddings requests have no text output" in embeddings and "{'" not in embeddings


def test_reasoning_and_encrypted_content_survive_in_output_items() -> None:
    fmt = format_named("responses")
    items = fmt.output_items(request("responses", "1").response_body)
    assert [i["type"] for i in items] == ["reasoning", "function_call"]
    assert items[0]["encrypted_content"].startswith("gAAAA") and "id" not in items[0]


def test_edits_reach_instructions_system_messages_and_system_instruction() -> None:
    fmt = format_named("responses")
    body = request("responses", "1").request_body
    assert fmt.with_system(body, " Be brief.", append=True)["instructions"].endswith("Be brief.")
    as_messages = {"model": "gpt-4.1", "input": [
        {"role": "developer", "content": "Old rules."}, {"role": "user", "content": "hi"}]}
    edited = fmt.with_system(as_messages, "New rules.", append=False)
    assert edited["input"][0]["content"] == "New rules." and "instructions" not in edited
    assert body["instructions"].startswith("You are a concise")  # never mutated

    gem = request("gemini", "1")
    edits = EditSet(
        system=[SystemEdit(scope="prompt", target="flight-assistant", text="Be terse.")],
        params=[ParamEdit(temperature=0.9, max_tokens=64)],
    )
    sent = edits.apply(gem)
    assert format_named("gemini").system_prompts(sent) == ["Be terse."]
    assert sent["generationConfig"] == {"temperature": 0.9, "maxOutputTokens": 64}
    vertex = request("gemini", "3")
    snake = EditSet(params=[ParamEdit(top_p=0.5)]).apply(vertex)
    assert snake["generation_config"] == {"temperature": 0.0, "topP": 0.5}

    resp = EditSet(params=[ParamEdit(max_tokens=100)]).apply(request("responses", "2"))
    assert resp["max_output_tokens"] == 100 and "max_tokens" not in resp


def test_translation_to_chat_keeps_conversation_and_tool_schemas() -> None:
    chat = format_named("responses").to_chat(request("responses", "2").request_body)
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert chat["messages"][2]["tool_calls"][0]["id"] == "call_Lx9mQ2vT8rW4"
    assert chat["messages"][3]["tool_call_id"] == "call_Lx9mQ2vT8rW4"
    assert chat["tools"][0]["function"]["parameters"]["required"] == ["city"]

    gem = format_named("gemini").to_chat(request("gemini", "2").request_body)
    assert [m["role"] for m in gem["messages"]] == ["system", "user", "assistant", "tool"]
    call_id = gem["messages"][2]["tool_calls"][0]["id"]
    assert call_id and gem["messages"][3]["tool_call_id"] == call_id
    assert gem["tools"][0]["function"]["parameters"]["properties"]["origin"]["type"] == "string"
    assert gem["temperature"] == 0.2 and gem["max_tokens"] == 512

    ant = format_named("anthropic").to_chat(request("anthropic", "3").request_body)
    assert ant["tools"][0]["function"]["parameters"]["required"] == ["amount", "to"]
    thinking = format_named("anthropic").to_chat(request("anthropic", "2").request_body)
    assert all("thinking" not in json.dumps(m) for m in thinking["messages"])


def cli_json(db: Path, *args: str) -> object:
    result = CliRunner().invoke(cli, ["--db", str(db), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_requests_without_a_session_are_listed_searchable_and_openable(db: Path) -> None:
    sessions = cli_json(db, "sessions")
    lone = {s["id"]: s for s in sessions if s["sessionless"]}
    assert set(lone) == {LONE + str(n) for n in range(1, 5)}
    assert lone[LONE + "1"]["name"] == "The checkout flow is so much faster now!"
    assert lone[LONE + "1"]["requests"] == 1 and lone[LONE + "1"]["models"] == ["gpt-4o-mini"]
    assert not any(s["sessionless"] for s in sessions if s["id"] not in lone)
    found = cli_json(db, "sessions", "--search", "no session")
    assert {s["id"] for s in found} == set(lone)
    assert [s["id"] for s in cli_json(db, "sessions", "--search", "user-42")] == [LONE + "1"]
    tree = cli_json(db, "tree", LONE + "2")
    assert tree["requests"] == [LONE + "2"]
    with Store(db) as store:
        (only,) = store.session_requests(LONE + "2", bodies=True)
        assert only.id == LONE + "2" and only.session_id is None


def test_identical_reimport_is_unchanged_and_numbers_are_checked(tmp_path: Path) -> None:
    with Store(tmp_path / "again.db") as store:
        first = import_files(store, [PROVIDERS / "sessionless.json"])
        again = import_files(store, [PROVIDERS / "sessionless.json"])
        assert (first.imported, first.updated) == (4, 0)
        assert (again.imported, again.updated, again.unchanged) == (0, 0, 4)
        chat = store.get_request(LONE + "1")
        assert chat is not None and chat.total_tokens == 32  # logged as 0, parts known
        micro = store.get_request(LONE + "2")  # cost 1400: Helicone units, not dollars
        assert micro is not None and micro.cost is None and micro.raw_cost == 1400
        negative = store.get_request(LONE + "3")
        assert negative is not None and negative.cost is None and negative.raw_cost == -0.5
        assert sum(s.cost or 0.0 for s in store.list_sessions()) < 0.001  # None: unknown
    out = show(tmp_path / "again.db", LONE + "2")
    assert "logged cost 1400 is not a dollar amount" in out


def test_cut_streams_and_malformed_answers_are_named() -> None:
    responses, gemini = format_named("responses"), format_named("gemini")
    streamed = rows("responses")[2]["response_body"]["streamed_data"]
    whole = responses.stream_assembler()
    for event in streamed:
        whole.feed(event)
    assert whole.problem() is None and responses.output(whole.body()).text.startswith("Tomorrow")
    cut = responses.stream_assembler()
    for event in streamed[:5]:
        cut.feed(event)
    assert "no response.completed" in (cut.problem() or "")
    assert responses.output(cut.body()).finish_reason.startswith("incomplete")
    assert responses.response_problem({"object": "response", "status": "in_progress",
                                       "output": []}) == "response is still in_progress"
    assert responses.response_problem({"id": "x"}) == "response has no output"
    assert responses.response_problem(request("responses", "2").response_body) is None

    chunks = rows("gemini")[1]["response_body"]["streamed_data"]
    folded = gemini.stream_assembler()
    for chunk in chunks:
        folded.feed(chunk)
    assert folded.problem() is None
    assert gemini.output(folded.body()).text.endswith("Shall I book it?")
    partial = gemini.stream_assembler()
    partial.feed(chunks[0])
    assert "no finishReason" in (partial.problem() or "")
    assert gemini.response_problem({"usageMetadata": {}}) == "response has no candidates"
    assert gemini.response_problem(request("gemini", "1").response_body) is None


def test_conversation_codecs_group_turns_and_render_exchanges() -> None:
    from types import SimpleNamespace

    from core.formats import ToolCall

    codec = format_named("responses").conversation
    body = request("responses", "2").request_body
    grouped = codec.raw_messages(body)
    assert [type(m).__name__ for m in grouped] == ["dict", "list", "dict"]  # user, turn, output
    assert [c.name for c in codec.calls_in(grouped[1])] == ["get_weather"]
    assert codec.answers_in(grouped[2]) == (["call_Lx9mQ2vT8rW4"], None)
    assert codec.with_messages(body, grouped) == body
    exchange = SimpleNamespace(
        text="", calls=[ToolCall(id="call_9", name="get_weather", arguments='{"city":"Faro"}')],
        results=[SimpleNamespace(call_id="call_9", name="get_weather", content="sunny",
                                 is_error=False)],
    )
    rendered = codec.with_messages(body, [grouped[0], *codec.render(exchange, [])])
    assert [i.get("type", "message") for i in rendered["input"]] == [
        "message", "function_call", "function_call_output"]

    gemini = format_named("gemini").conversation
    contents = gemini.raw_messages(request("gemini", "2").request_body)
    assert [c.name for c in gemini.calls_in(contents[1])] == ["find_flights"]
    assert gemini.answers_in(contents[2]) == ([""], None)
    follow = {"role": "user", "parts": [{"text": "Cheaper?"}]}
    model, answer = gemini.render(exchange, [follow])
    assert model["parts"][0]["functionCall"]["args"] == {"city": "Faro"}
    assert answer["parts"][0]["functionResponse"]["response"] == {"result": "sunny"}
    assert answer["parts"][1] == {"text": "Cheaper?"}

"""LoggedRequest from every HeliconeRequest row shape in the API contract."""

from __future__ import annotations

import pytest

from core.formats import detect_format, not_replayable_reason
from core.models import LoggedRequest, RowError, normalize_path
from core.parsing import parse_float, parse_time
from tests.conftest import DEBATE_SESSION, load_fixture


def rows(name: str) -> dict[str, dict]:
    return {row["request_id"]: row for row in load_fixture(name)["data"]}


def test_clickhouse_inline_row() -> None:
    row = rows("request-query-clickhouse.page.json")["d4b0f6a5-8c97-4ebd-8f3a-4b5c6d7e8f94"]
    request = LoggedRequest.from_helicone_row(row)
    assert request.session_id == DEBATE_SESSION
    assert request.session_name == "Debate"
    assert request.session_path == "/debate/climate-change/turn-2"
    assert request.prompt_id == "assistant-argument"
    assert request.properties == {"environment": "dev"}
    assert request.provider == "OPENAI" and request.model == "gpt-4o-mini"
    assert request.target_url == "https://api.openai.com/v1/chat/completions"
    assert request.status == 200 and request.latency_ms == 2433
    assert request.prompt_tokens == 187 and request.total_tokens == 275
    assert request.cost == pytest.approx(8.085e-05)
    assert request.body_state == "full"
    output = detect_format(request.request_body).output(request.response_body)
    assert output.text.startswith("Canada's federal fuel charge")


def test_streamed_row_drops_streamed_data_and_reads_message() -> None:
    row = rows("request-query-clickhouse.page.json")["b2f8d4e3-6a75-4c9b-8d1e-2f3a4b5c6d72"]
    request = LoggedRequest.from_helicone_row(row)
    assert "streamed_data" not in request.response_body
    output = detect_format(request.request_body).output(request.response_body)
    assert output.text.startswith("Well-designed carbon taxes")
    assert output.completion_tokens == 96


def test_tool_call_row() -> None:
    row = rows("request-query-clickhouse.page.json")["c3a9e5f4-7b86-4dac-9e2f-3a4b5c6d7e83"]
    request = LoggedRequest.from_helicone_row(row)
    fmt = detect_format(request.request_body)
    output = fmt.output(request.response_body)
    assert output.text == ""
    assert output.tool_calls[0].name == "search_evidence"
    assert '"max_results":3' in output.tool_calls[0].arguments
    assert fmt.tools(request.request_body)


def test_s3_row_is_a_preview_until_the_signed_body_arrives() -> None:
    row = rows("request-query-clickhouse.page.json")["a1e7c3d2-5f64-4b8a-9c0d-1e2f3a4b5c61"]
    request = LoggedRequest.from_helicone_row(row)
    assert request.body_state == "preview"
    assert request.signed_body_url and "X-Amz-Signature" in request.signed_body_url
    assert "signed_body_url" not in request.model_dump()  # never persisted or exported
    assert not_replayable_reason(request.request_body, body_state=request.body_state)
    full = request.with_signed_body(load_fixture("signed-body.anthropic.json"))
    assert full.body_state == "full"
    fmt = detect_format(full.request_body, full.provider, full.target_url)
    assert fmt is not None and fmt.name == "anthropic"
    assert fmt.system_prompts(full.request_body)[0].startswith("You are an impartial judge")
    assert fmt.output(full.response_body).text.startswith("Score: 6/10")


def test_legacy_row() -> None:
    row = load_fixture("request-query-legacy.page.json")["data"][0]
    request = LoggedRequest.from_helicone_row(row)
    assert request.request_url == "https://oai.helicone.ai/v1/chat/completions"
    assert request.cost == pytest.approx(7.44e-05)  # from costUSD
    assert request.prompt_id == "assistant-argument"
    assert request.scores == {"argument_quality": 8.0}
    assert request.body_state == "missing" and request.request_body is None
    assert request.time_to_first_token_ms == 412


def test_string_numbers_and_clickhouse_timestamps() -> None:
    request = LoggedRequest.from_helicone_row(
        {
            "request_id": "r1",
            "request_created_at": "2025-03-14 17:01:58.104",
            "response_created_at": "2025-03-14T17:01:59.816Z",
            "delay_ms": "1712",
            "prompt_tokens": "58",
            "cost": "0.0002904",
            "request_properties": {"Helicone-Session-Id": "s", "Helicone-Session-Path": "a/b"},
            "request_body": {"model": "m", "messages": [], "prompt_id": "from-body"},
        }
    )
    assert request.created_at.isoformat() == "2025-03-14T17:01:58.104000+00:00"
    assert request.latency_ms == 1712 and request.prompt_tokens == 58
    assert request.cost == pytest.approx(0.0002904)
    assert request.session_path == "/a/b"
    assert request.prompt_id == "from-body"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({}, "missing request_id"),
        ({"request_id": "x"}, "missing request_created_at"),
        ({"request_id": "x", "request_created_at": "yesterday"}, "request_created_at"),
        ({"request_id": "x", "request_created_at": "2025-01-01", "delay_ms": "fast"}, "number"),
        (
            {"request_id": "x", "request_created_at": "2025-01-01", "request_properties": ["a"]},
            "object",
        ),
        ([1, 2], "expected an object, got an array"),
        (7, "expected an object, got a number"),
        ({"request_id": 12345}, "request_id must be a string, got a number"),
    ],
)
def test_bad_rows_raise_clear_errors(row: object, message: str) -> None:
    with pytest.raises(RowError, match=message):
        LoggedRequest.from_helicone_row(row)


def test_parsers() -> None:
    assert parse_time("2025-03-14 17:01:58.104") == parse_time("2025-03-14T17:01:58.104Z")
    assert parse_time(None) is None
    assert parse_float("1e-3") == 0.001 and parse_float("") is None
    assert normalize_path(None) == "/" and normalize_path("x/y") == "/x/y"


def test_not_replayable_reasons() -> None:
    assert "embeddings" in not_replayable_reason(
        {"model": "text-embedding-3-small", "input": ["a"]}, "OPENAI", "https://x/v1/embeddings"
    )
    assert "not logged" in not_replayable_reason(None)
    assert "unknown request format" in not_replayable_reason({"prompt": "hi"}, "GOOGLE")
    assert not_replayable_reason({"model": "m", "messages": []}, "OPENAI") is None

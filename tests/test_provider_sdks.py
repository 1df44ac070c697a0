"""The providers' own SDKs vouch for our bodies: every fixture body validates against the
official types (openai, anthropic, google-genai), and the SDK clients talk to the loopback
servers the replay tests use, streaming and not, so both speak the real wire formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.servers import FakeProvider

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
genai = pytest.importorskip("google.genai")

PROVIDERS = Path(__file__).resolve().parent / "fixtures" / "providers"


def rows(name: str) -> list[dict[str, Any]]:
    return json.loads((PROVIDERS / f"{name}.json").read_text())


def without_stream_data(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "streamed_data"}


def test_responses_fixtures_are_valid_openai_types() -> None:
    from openai.types.responses import Response, ResponseStreamEvent
    from openai.types.responses.response_create_params import (
        ResponseCreateParamsNonStreaming,
        ResponseCreateParamsStreaming,
    )

    events = TypeAdapter(ResponseStreamEvent)
    for row in rows("responses") + rows("sessionless")[1:2]:
        request = row["request_body"]
        params = ResponseCreateParamsStreaming if request.get("stream") else (
            ResponseCreateParamsNonStreaming)
        TypeAdapter(params).validate_python(request)
        body = row["response_body"]
        if body.get("type") == "response.completed":  # Helicone's stored stream
            for event in body["streamed_data"]:
                events.validate_python(event)
            body = body["response"]
        if row["request_id"].endswith("0002") and "nano" in request["model"]:
            continue  # the minimal sessionless row omits fields a full response has
        Response.model_validate(body)


def test_anthropic_gemini_and_azure_fixtures_are_valid_sdk_types() -> None:
    from anthropic.types import Message
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
    from google.genai import types
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    for row in rows("anthropic"):
        request = {k: v for k, v in row["request_body"].items() if k != "stream"}
        if "parameters" not in json.dumps(request.get("tools")):  # the non-standard tool shape
            TypeAdapter(MessageCreateParamsNonStreaming).validate_python(request)
        body = row["response_body"]
        if "choices" in body:
            ChatCompletion.model_validate(body)  # stored OpenAI-shaped by Helicone
        else:
            Message.model_validate(body)
    for row in rows("gemini"):
        request = row["request_body"]
        for content in request.get("contents") or []:
            types.Content.model_validate(content)
        types.Content.model_validate(
            request.get("systemInstruction") or request.get("system_instruction")
        )
        for tool in request.get("tools") or []:
            types.Tool.model_validate(tool)
        types.GenerationConfig.model_validate(
            request.get("generationConfig") or request.get("generation_config")
        )
        response = types.GenerateContentResponse.model_validate(
            without_stream_data(row["response_body"])
        )
        assert response.candidates
        for chunk in row["response_body"].get("streamed_data") or []:
            types.GenerateContentResponse.model_validate(chunk)
    (azure,) = rows("azure")
    for chunk in azure["response_body"]["streamed_data"][1:]:  # Azure's first chunk is empty
        ChatCompletionChunk.model_validate(chunk)


async def test_openai_sdk_reads_the_loopback_responses_api() -> None:
    with FakeProvider(reply=lambda body: "Pack an umbrella today.") as server:
        client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="sk-test")
        first = await client.responses.create(model="gpt-4.1-mini", input="Rain in Porto?")
        assert first.output_text == "Pack an umbrella today."
        stream = await client.responses.create(
            model="gpt-4.1-mini", input="And tomorrow?", previous_response_id=first.id,
            stream=True,
        )
        deltas = []
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            final = event
        assert "".join(deltas) == "Pack an umbrella today."
        assert final.type == "response.completed" and final.response.previous_response_id == first.id
        await client.close()
        assert server.received[0].headers["authorization"] == "Bearer sk-test"


def test_google_genai_sdk_reads_the_loopback_gemini_api() -> None:
    from google.genai import types

    with FakeProvider(reply=lambda body: "KL 1702 leaves at 06:10.") as server:
        client = genai.Client(api_key="gemini-test",
                              http_options=types.HttpOptions(base_url=server.base_url,
                                                             api_version="v1beta"))
        answer = client.models.generate_content(
            model="gemini-2.0-flash", contents="Flights to Amsterdam?",
            config=types.GenerateContentConfig(system_instruction="You book flights."),
        )
        assert answer.text == "KL 1702 leaves at 06:10."
        streamed = "".join(
            chunk.text or "" for chunk in client.models.generate_content_stream(
                model="gemini-2.0-flash", contents="Flights to Amsterdam?")
        )
        assert streamed == "KL 1702 leaves at 06:10."
        paths = [r.path for r in server.received]
        assert paths == ["/v1beta/models/gemini-2.0-flash:generateContent",
                         "/v1beta/models/gemini-2.0-flash:streamGenerateContent"]
        # The SDK sends the key the way reprise's replays do.
        assert all(r.headers["x-goog-api-key"] == "gemini-test" for r in server.received)
        assert server.received[0].body["systemInstruction"]["parts"][0]["text"] == (
            "You book flights.")

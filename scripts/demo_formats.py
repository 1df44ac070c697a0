"""Demo sessions in the OpenAI Responses API and Gemini wire formats (used by make_demo_store).

Both replay on the bundled local model: reprise translates them to chat completions, and the
Responses follow-up that continues `previous_response_id` gets the chain inlined.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

RESPONSES_URL = "https://api.openai.com/v1/responses"
GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:{method}"

PLANNER = (
    "You are a trip-planning agent. Check live data with your tools before answering, then "
    "give one short, practical recommendation."
)
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Today's forecast for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def _response(rid: str, output: list[dict], tokens: tuple[int, int], previous: str | None,
              reasoning_tokens: int = 0) -> dict[str, Any]:
    return {
        "id": rid, "object": "response", "created_at": 1763800000, "status": "completed",
        "error": None, "incomplete_details": None, "instructions": PLANNER,
        "model": "o4-mini-2025-04-16", "output": output, "previous_response_id": previous,
        "reasoning": {"effort": "low", "summary": "auto"}, "store": True,
        "tools": [WEATHER_TOOL], "tool_choice": "auto", "parallel_tool_calls": True,
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1],
                  "total_tokens": sum(tokens),
                  "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": reasoning_tokens}},
    }


def _message(mid: str, text: str) -> dict[str, Any]:
    return {"id": mid, "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def responses_session(start: datetime, row: Callable[..., dict], uid: Callable[..., str],
                      clock: Any) -> list[dict]:
    """An agent on the Responses API: tool call with reasoning, answer, chained follow-up."""
    session = (uid("session", "responses"), "Trip Planner (Responses API)")
    user = {"role": "user", "content": [
        {"type": "input_text", "text": "I'm in Porto tomorrow. Walking tour or museum day?"}]}
    reasoning = {
        "id": "rs_" + uid("resp", "reason")[:24], "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "**Checking the weather**\n\nThe choice "
                     "depends on rain in Porto, so I look up the forecast first."}],
        "encrypted_content": "gAAAAABpQ-demo-encrypted-reasoning",
    }
    call = {"id": "fc_" + uid("resp", "call")[:24], "type": "function_call",
            "status": "completed", "call_id": "call_" + uid("resp", "cid")[:20],
            "name": "get_weather", "arguments": json.dumps({"city": "Porto"})}
    result = {"type": "function_call_output", "call_id": call["call_id"],
              "output": json.dumps({"city": "Porto", "forecast": "heavy rain until 15:00",
                                    "temp_c": 14})}
    answer = ("Plan a museum morning: heavy rain is forecast in Porto until 3 pm. Start at "
              "Serralves, then walk the Ribeira riverside once it clears in the afternoon.")
    follow = ("Pack a compact umbrella and waterproof shoes: the cobbled streets near Ribeira "
              "get slippery in the rain.")
    ids = [f"resp_{uid('resp', n)[:24]}" for n in range(3)]
    base = {"model": "o4-mini", "instructions": PLANNER, "tools": [WEATHER_TOOL],
            "reasoning": {"effort": "low", "summary": "auto"}, "store": True}
    bodies = [
        {**base, "input": [user], "include": ["reasoning.encrypted_content"]},
        {**base, "input": [user, reasoning, call, result]},
        {**base, "previous_response_id": ids[1], "stream": True,
         "input": [{"role": "user", "content": "Anything I should pack?"}]},
    ]
    responses = [
        _response(ids[0], [reasoning, call], (118, 96), None, reasoning_tokens=64),
        _response(ids[1], [_message("msg_" + uid("resp", "m1")[:24], answer)], (246, 41), None),
        _response(ids[2], [_message("msg_" + uid("resp", "m2")[:24], follow)], (301, 27),
                  ids[1]),
    ]
    # Helicone stores a streamed Responses call as its last event, `response.completed`.
    responses[2] = {"type": "response.completed", "sequence_number": 9,
                    "response": responses[2]}
    paths = ["/agent/tools", "/agent/answer", "/agent/follow-up"]
    rows = []
    for index, (body, response, path) in enumerate(zip(bodies, responses, paths, strict=True)):
        usage = (response.get("response") or response)["usage"]
        item = row(request_id=uid("responses", index), session=session, path=path,
                   span=clock.span(1400 + 300 * index, 2500), request_body=body,
                   response_body=response, prompt_id="trip-planner", target_url=RESPONSES_URL)
        item.update(prompt_tokens=usage["input_tokens"], completion_tokens=usage["output_tokens"],
                    total_tokens=usage["total_tokens"])
        rows.append(item)
    return rows


FLIGHT_TOOL = [{"functionDeclarations": [{
    "name": "find_flights",
    "description": "Direct flights between two airports on a date.",
    "parameters": {"type": "OBJECT", "properties": {
        "origin": {"type": "STRING"}, "destination": {"type": "STRING"},
        "date": {"type": "STRING", "description": "YYYY-MM-DD"}},
        "required": ["origin", "destination", "date"]},
}]}]


def gemini_session(start: datetime, row: Callable[..., dict], uid: Callable[..., str],
                   clock: Any) -> list[dict]:
    """Gemini with a function call, its result, and a streamed answer."""
    session = (uid("session", "gemini"), "Flight Desk (Gemini)")
    system = {"parts": [{"text": "You are a flight desk assistant. Confirm the date and the "
                                 "price before offering to book."}]}
    user = {"role": "user", "parts": [{"text": "Direct flight Porto to Amsterdam on "
                                                "2026-12-04, please."}]}
    call = {"role": "model", "parts": [{"functionCall": {"name": "find_flights", "args": {
        "origin": "OPO", "destination": "AMS", "date": "2026-12-04"}}}]}
    result = {"role": "user", "parts": [{"functionResponse": {"name": "find_flights", "response": {
        "flights": [{"flight": "KL 1702", "departs": "06:10", "arrives": "09:35",
                     "price_eur": 142}]}}}]}
    answer = ("KL 1702 on 2026-12-04 leaves Porto at 06:10 and lands in Amsterdam at 09:35 "
              "for 142 EUR. Shall I book it?")
    config = {"temperature": 0.3, "maxOutputTokens": 400}
    bodies = [
        {"systemInstruction": system, "contents": [user], "tools": FLIGHT_TOOL,
         "generationConfig": config},
        {"systemInstruction": system, "contents": [user, call, result], "tools": FLIGHT_TOOL,
         "generationConfig": config},
    ]
    responses = [
        {"candidates": [{"content": call, "finishReason": "STOP", "index": 0}],
         "usageMetadata": {"promptTokenCount": 74, "candidatesTokenCount": 19,
                           "totalTokenCount": 93},
         "modelVersion": "gemini-2.0-flash", "responseId": uid("gemini", "r1")[:22]},
        # Helicone's folded stream: the first chunk with every part's text joined.
        {"candidates": [{"content": {"role": "model", "parts": [{"text": answer}]},
                         "index": 0}],
         "usageMetadata": {"promptTokenCount": 131, "candidatesTokenCount": 33,
                           "totalTokenCount": 164},
         "modelVersion": "gemini-2.0-flash", "responseId": uid("gemini", "r2")[:22]},
    ]
    rows = []
    for index, (body, response) in enumerate(zip(bodies, responses, strict=True)):
        method = "streamGenerateContent?alt=sse" if index else "generateContent"
        item = row(request_id=uid("gemini", index), session=session,
                   path=["/search", "/confirm"][index], span=clock.span(900 + 400 * index, 3000),
                   request_body=body, response_body=response, prompt_id="flight-desk",
                   provider="GOOGLE", target_url=GEMINI_URL.format(method=method))
        usage = response["usageMetadata"]
        item.update(model="gemini-2.0-flash", request_model="gemini-2.0-flash",
                    prompt_tokens=usage["promptTokenCount"],
                    completion_tokens=usage["candidatesTokenCount"],
                    total_tokens=usage["totalTokenCount"],
                    cost=round(usage["promptTokenCount"] * 0.1e-6
                               + usage["candidatesTokenCount"] * 0.4e-6, 9))
        rows.append(item)
    return rows


def sessionless_rows(start: datetime, row: Callable[..., dict], uid: Callable[..., str],
                     clock: Any) -> list[dict]:
    """Requests logged without a session id, as most production traffic is."""
    asks = [
        ("Classify the sentiment as positive, negative or neutral.",
         "The new checkout is so much faster!", "positive"),
        ("Translate the user's text to French.", "Good morning, see you at the station.",
         "Bonjour, on se retrouve à la gare."),
    ]
    rows = []
    for index, (system, text, answer) in enumerate(asks):
        body = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": system},
                                                      {"role": "user", "content": text}]}
        response = {
            "id": "chatcmpl-" + uid("lone", index)[:24], "object": "chat.completion",
            "created": 1763900000, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 24 + index * 3, "completion_tokens": len(answer.split()),
                      "total_tokens": 24 + index * 3 + len(answer.split())},
        }
        item = row(request_id=uid("lone", index), session=("", ""), path="/",
                   span=clock.span(450 + 100 * index, 60000), request_body=body,
                   response_body=response)
        item["request_properties"] = item["properties"] = {"Helicone-User-Id": "user-1042"}
        item["request_user_id"] = "user-1042"
        rows.append(item)
    return rows

"""Generate the bundled demo store deterministically: `python scripts/make_demo_store.py`.

The sessions are written as Helicone `query-clickhouse` rows and imported through the same
path as a user's export, so the demo exercises the real importer.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from core.models import LoggedRequest  # noqa: E402
from core.store import Store  # noqa: E402

OUT = ROOT / "core" / "data" / "demo.db"
NAMESPACE = uuid.UUID("6f1d3c1e-5b8a-4e0f-9a7d-2c4b6e8f0a13")
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"


def uid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(map(str, parts))))


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def span(self, latency_ms: int, gap_ms: int = 150) -> tuple[str, str]:
        start = self.now
        end = start + timedelta(milliseconds=latency_ms)
        self.now = end + timedelta(milliseconds=gap_ms)
        return iso(start), iso(end)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def openai_response(text: str | None, prompt_tokens: int, tool_calls: list | None = None) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    completion = max(1, len((text or "").split()) * 4 // 3) if text else 18
    return {
        "id": "chatcmpl-" + uid("resp", text, prompt_tokens)[:24],
        "object": "chat.completion",
        "created": 1741971726,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        },
    }


def row(
    *,
    request_id: str,
    session: tuple[str, str],
    path: str,
    span: tuple[str, str],
    request_body: dict,
    response_body: Any,
    prompt_id: str | None = None,
    provider: str = "OPENAI",
    target_url: str = OPENAI_URL,
    status: int = 200,
    extra_props: dict[str, str] | None = None,
    scores: dict | None = None,
) -> dict[str, Any]:
    props = {
        "Helicone-Session-Id": session[0],
        "Helicone-Session-Name": session[1],
        "Helicone-Session-Path": path,
    }
    if prompt_id:
        props["Helicone-Prompt-Id"] = prompt_id
    props.update(extra_props or {})
    usage = response_body.get("usage", {}) if isinstance(response_body, dict) else {}
    prompt_tokens = usage.get("prompt_tokens", usage.get("input_tokens", 0))
    completion_tokens = usage.get("completion_tokens", usage.get("output_tokens", 0))
    start, end = span
    latency = int(
        (datetime.fromisoformat(end[:-1]) - datetime.fromisoformat(start[:-1])).total_seconds()
        * 1000
    )
    price_in, price_out = (0.8e-6, 4e-6) if provider == "ANTHROPIC" else (0.15e-6, 0.6e-6)
    return {
        "request_id": request_id,
        "request_created_at": start,
        "response_created_at": end,
        "response_status": status,
        "request_body": request_body,
        "response_body": response_body,
        "request_properties": props,
        "properties": props,
        "provider": provider,
        "model": request_body.get("model"),
        "request_model": request_body.get("model"),
        "target_url": target_url,
        "delay_ms": latency,
        "time_to_first_token": 0,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost": round(prompt_tokens * price_in + completion_tokens * price_out, 9),
        "scores": scores or {},
        "prompt_id": "",
        "storage_location": "clickhouse",
    }


# -- the debate from the seed article -----------------------------------------------------
DEBATER = (
    "You're a debating professional. You're engaging in a structured debate with the user. "
    "Each of you will present arguments for or against the topic. "
    "Keep responses concise and to the point."
)
JUDGE = (
    "You are an impartial judge evaluating debate arguments. Given the argument, provide a "
    "score from 1 to 10 based on validity and persuasiveness, and give constructive feedback. "
    "Start your answer with 'Score: N/10'."
)
USER_ARGUMENTS = [
    "Carbon taxes hurt low-income households more than anyone else.",
    "Dividends sound nice, but governments rarely return the money in practice.",
    "Even with rebates, businesses will simply move to countries without carbon prices.",
]
ASSISTANT_ANSWERS = [
    "Well-designed carbon taxes return the revenue as equal per-person dividends, so most "
    "low-income households receive more than they pay in higher prices.",
    "Canada's federal fuel charge returned about 90% of proceeds directly to households "
    "through quarterly rebates, which shows the design is practical when written into law.",
    "Border carbon adjustments, like the EU's CBAM, charge imports for their embedded "
    "emissions, which removes the incentive to relocate production to avoid the price.",
]
JUDGE_SCORES = [
    ("6", "The argument names a real distributional concern but ignores rebate designs."),
    ("8", "Clear mechanism and a concrete claim; it would be stronger with a source."),
    ("5", "Plausible, but it asserts government behaviour without any evidence."),
    ("8", "A real-world example supports the claim well; concise and on point."),
    ("6", "Leakage is a fair concern, though the scale of relocation is not shown."),
    ("9", "Directly answers the leakage objection with an existing policy instrument."),
]


def debate_session(start: datetime) -> list[dict]:
    session = (uid("session", "debate"), "AI Debate")
    topic = "climate change"
    base = "/debate/climate-change"
    clock = Clock(start)
    conversation: list[dict[str, str]] = [
        {"role": "system", "content": DEBATER},
        {
            "role": "assistant",
            "content": f'Welcome to our debate! Today\'s topic is: "{topic}". I will argue in '
            "favor, and you will argue against. Please present your opening argument.",
        },
    ]
    rows: list[dict] = []
    judge_index = 0

    def evaluate(turn: int, text: str, label: str) -> None:
        nonlocal judge_index
        score, feedback = JUDGE_SCORES[judge_index]
        judge_index += 1
        body = {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": JUDGE},
                {"role": "user", "content": f'Evaluate this argument ({label}):\n\n"{text}"'},
            ],
            "temperature": 0,
            "max_tokens": 120,
        }
        answer = f"Score: {score}/10. {feedback}"
        rows.append(
            row(
                request_id=uid("debate", turn, label),
                session=session,
                path=f"{base}/turn-{turn}",
                span=clock.span(900 + 137 * judge_index),
                request_body=body,
                response_body=openai_response(answer, 96 + len(text) // 4),
                prompt_id="argument-evaluation",
                extra_props={"environment": "demo"},
                scores={"argument_score": int(score)},
            )
        )

    for turn, (argument, answer) in enumerate(
        zip(USER_ARGUMENTS, ASSISTANT_ANSWERS, strict=True), start=1
    ):
        conversation.append({"role": "user", "content": argument})
        evaluate(turn, argument, "Your Argument")
        body = {
            "model": "gpt-4o-mini",
            "messages": [dict(m) for m in conversation],
            "temperature": 0.7,
            "max_tokens": 160,
        }
        rows.append(
            row(
                request_id=uid("debate", turn, "assistant"),
                session=session,
                path=f"{base}/turn-{turn}",
                span=clock.span(2100 + 211 * turn),
                request_body=body,
                response_body=openai_response(answer, 60 + 45 * turn * 2),
                prompt_id="assistant-argument",
                extra_props={"environment": "demo"},
            )
        )
        conversation.append({"role": "assistant", "content": answer})
        evaluate(turn, answer, "Assistant's Argument")
        clock.now += timedelta(seconds=20)  # the user types the next argument
    return rows


# -- an agent with tool calls, nested paths and awkward content ------------------------------
def agent_session(start: datetime) -> list[dict]:
    session = (uid("session", "agent"), "Research Agent")
    clock = Clock(start)
    system = "You are a research agent. Use the tools to find evidence, then answer with citations."
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search_web",
                "description": "Search the web and return the top results.",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "max_results": {"type": "integer"}},
                    "required": ["query"],
                },
            },
        }
    ]
    question = "What share of global electricity came from solar in 2024?"
    messages: list[dict] = [
        {"role": "system", "content": system},
        {"role": "user", "content": question},
    ]
    rows: list[dict] = []
    plan_body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Break the question into search queries, one per line."},
            {"role": "user", "content": question},
        ],
        "temperature": 0.2,
    }
    plan = "solar share of global electricity 2024\nEmber global electricity review 2024 solar"
    rows.append(
        row(
            request_id=uid("agent", "plan"),
            session=session,
            path="/agent/plan",
            span=clock.span(800),
            request_body=plan_body,
            response_body=openai_response(plan, 41),
            prompt_id="agent-planner",
        )
    )
    results = [
        "[1] Ember Global Electricity Review: solar reached 6.9% of global electricity in 2024."
        " Raw snippet: [bold red]BREAKING[/bold red] \x1b[31mred alert\x1b[0m",
        "[2] IEA Renewables 2024: solar PV generation grew by about 30% year on year.",
    ]
    for step, query in enumerate(plan.splitlines(), start=1):
        call = {
            "id": f"call_{uid('agent', 'call', step)[:12]}",
            "type": "function",
            "function": {
                "name": "search_web",
                "arguments": json.dumps({"query": query, "max_results": 3}),
            },
        }
        body = {
            "model": "gpt-4o-mini",
            "messages": [dict(m) for m in messages],
            "tools": tools,
            "temperature": 0.2,
        }
        rows.append(
            row(
                request_id=uid("agent", "search", step),
                session=session,
                path="/agent/search/web",
                span=clock.span(700 + 50 * step),
                request_body=body,
                response_body=openai_response(None, 120 + 40 * step, [call]),
                prompt_id="research-agent",
            )
        )
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": results[step - 1]})
        clock.now += timedelta(milliseconds=900)  # the tool runs
    embed_body = {"model": "text-embedding-3-small", "input": results}
    rows.append(
        row(
            request_id=uid("agent", "embed"),
            session=session,
            path="/agent/search/index",
            span=clock.span(180),
            request_body=embed_body,
            response_body={
                "object": "list",
                "data": [],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 52, "total_tokens": 52},
            },
            target_url="https://api.openai.com/v1/embeddings",
        )
    )
    answer_body = {
        "model": "gpt-4o-mini",
        "messages": [dict(m) for m in messages],
        "tools": tools,
        "temperature": 0.2,
    }
    rows.append(
        row(
            request_id=uid("agent", "answer", "rate-limited"),
            session=session,
            path="/agent/answer",
            span=clock.span(95),
            request_body=answer_body,
            response_body={
                "error": {
                    "message": "Rate limit reached for gpt-4o-mini",
                    "type": "rate_limit_error",
                    "code": "rate_limit",
                }
            },
            prompt_id="research-agent",
            status=429,
        )
    )
    clock.now += timedelta(seconds=2)
    answer = (
        "Solar generated about 6.9% of the world's electricity in 2024 [1], after PV output grew"
        " by roughly 30% in a year [2]. Note: one source snippet contained the literal text"
        " [bold red]BREAKING[/bold red], which is shown as written."
    )
    rows.append(
        row(
            request_id=uid("agent", "answer"),
            session=session,
            path="/agent/answer",
            span=clock.span(1900),
            request_body=answer_body,
            response_body=openai_response(answer, 310),
            prompt_id="research-agent",
        )
    )
    return rows


# -- Anthropic: system as blocks, a tool_use turn -------------------------------------------------
def anthropic_session(start: datetime) -> list[dict]:
    session = (uid("session", "support"), "Support Triage")
    clock = Clock(start)
    system = [
        {
            "type": "text",
            "text": "You triage customer support tickets. Reply with a "
            "category (billing, bug, how-to) and one sentence of reasoning.",
        }
    ]
    tickets = [
        "I was charged twice for my March subscription.",
        "The export button does nothing when I click it in Firefox.",
        "How do I invite a teammate to my workspace?",
    ]
    answers = [
        "Category: billing. A duplicate charge is a payment issue for the billing team.",
        "Category: bug. A button that fails in one browser points to a front-end defect.",
        "Category: how-to. The user asks how to use an existing feature.",
    ]
    rows = []
    for index, (ticket, answer) in enumerate(zip(tickets, answers, strict=True), start=1):
        body = {
            "model": "claude-3-5-haiku-20241022",
            "max_tokens": 300,
            "system": system,
            "messages": [{"role": "user", "content": [{"type": "text", "text": ticket}]}],
        }
        response = {
            "id": f"msg_{uid('support', index)[:20]}",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 48 + index * 5, "output_tokens": 21 + index},
        }
        rows.append(
            row(
                request_id=uid("support", index),
                session=session,
                path=f"/triage/ticket-{index}",
                span=clock.span(1100 + 90 * index, 4000),
                request_body=body,
                response_body=response,
                prompt_id="ticket-triage",
                provider="ANTHROPIC",
                target_url=ANTHROPIC_URL,
            )
        )
    return rows


# -- a streamed chat, stored in Helicone's consolidated chunk form ------------------------------
def streamed_session(start: datetime) -> list[dict]:
    session = (uid("session", "stream"), "Streaming Tutor")
    clock = Clock(start)
    system = "You are a patient math tutor. Explain step by step in plain words."
    questions = ["Why is 0.999... equal to 1?", "Can you show it with fractions instead?"]
    answers = [
        "Think of 1/3 = 0.333... Multiply both sides by 3: 3/3 = 0.999..., and 3/3 is 1. "
        "So 0.999... and 1 name the same number.",
        "Sure. 1/9 = 0.111..., so 9/9 = 0.999... But 9/9 is exactly 1, "
        "which means 0.999... equals 1.",
    ]
    messages: list[dict] = [{"role": "system", "content": system}]
    rows = []
    for index, (question, answer) in enumerate(zip(questions, answers, strict=True), start=1):
        messages.append({"role": "user", "content": question})
        body = {
            "model": "gpt-4o-mini",
            "messages": [dict(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response = {
            "id": f"chatcmpl-{uid('stream', index)[:20]}",
            "object": "chat.completion.chunk",
            "created": 1741971721,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "delta": {"role": "assistant", "content": answer},
                    "message": {"role": "assistant", "content": answer},
                }
            ],
            "usage": {
                "prompt_tokens": 40 + 30 * index,
                "completion_tokens": 48,
                "total_tokens": 88 + 30 * index,
            },
        }
        item = row(
            request_id=uid("stream", index),
            session=session,
            path="/tutor/explain",
            span=clock.span(1500 + 100 * index, 9000),
            request_body=body,
            response_body=response,
            prompt_id="math-tutor",
        )
        item["time_to_first_token"] = 310 + 20 * index
        rows.append(item)
        messages.append({"role": "assistant", "content": answer})
    return rows


# -- a large batch session ----------------------------------------------------------------------
def batch_session(start: datetime, count: int = 520) -> list[dict]:
    session = (uid("session", "batch"), "Batch Summarizer")
    clock = Clock(start)
    system = "Summarize the ticket in one sentence for the weekly report."
    topics = ["login", "billing", "export", "search", "notifications", "mobile", "api", "sso"]
    rows = []
    for index in range(count):
        topic = topics[index % len(topics)]
        ticket = f"Ticket #{1000 + index}: customer reports a problem with {topic} after update."
        body = {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": ticket},
            ],
            "temperature": 0.3,
        }
        answer = f"A customer hit a {topic} issue after the latest update (ticket {1000 + index})."
        rows.append(
            row(
                request_id=uid("batch", index),
                session=session,
                path=f"/batch/{topic}/summarize",
                span=clock.span(400 + index % 7 * 40, 10),
                request_body=body,
                response_body=openai_response(answer, 38),
                prompt_id="ticket-summary",
            )
        )
    return rows


# -- a trip-planner agent whose tools `reprise demo-tool` serves (try each tool rule) ----------
def trip_agent_session(start: datetime) -> list[dict]:
    from core.demo_tools import TOOLS

    session = (uid("session", "trip"), "Trip Planner Agent")
    clock = Clock(start)
    system = (
        "You are a trip planner. Check the weather at the destination, then search flights,"
        " then answer in three short lines with the best flight and what to pack."
    )

    def fn(name: str, description: str, **props: str) -> dict:
        return {"type": "function", "function": {
            "name": name, "description": description,
            "parameters": {"type": "object", "properties": {
                k: {"type": "number" if v == "number" else "string", "description": v}
                for k, v in props.items()}, "required": list(props)[:1]}}}

    tools = [
        fn("get_weather", "Weather forecast for a city.", city="city name", date="YYYY-MM-DD"),
        fn("search_flights", "Direct flights between two cities on a date.",
           origin="departure city", destination="arrival city", date="YYYY-MM-DD"),
        fn("convert_currency", "Convert an amount between EUR, USD, GBP and CHF.",
           amount="number", source="currency code", target="currency code"),
    ]
    question = "Plan a weekend in Lisbon from Berlin, leaving 2026-12-12. Budget 300 EUR."
    messages: list[dict] = [
        {"role": "system", "content": system},
        {"role": "user", "content": question},
    ]
    calls = [
        ("get_weather", {"city": "Lisbon", "date": "2026-12-12"}),
        ("search_flights", {"origin": "Berlin", "destination": "Lisbon", "date": "2026-12-12"}),
    ]
    rows: list[dict] = []
    results: list[str] = []
    for step, (name, arguments) in enumerate(calls, start=1):
        call = {"id": f"call_{uid('trip', 'call', step)[:12]}", "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)}}
        body = {"model": "gpt-4o-mini", "messages": [dict(m) for m in messages],
                "tools": tools, "temperature": 0}
        rows.append(row(request_id=uid("trip", "round", step), session=session,
                        path="/trip/agent", span=clock.span(600 + 80 * step),
                        request_body=body, response_body=openai_response(None, 210 + 60 * step,
                                                                         [call]),
                        prompt_id="trip-planner"))
        result = TOOLS[name](**arguments)
        results.append(result)
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        clock.now += timedelta(milliseconds=400)
    best = min(results[1].splitlines(), key=lambda line: int(line.split(", ")[1].split()[0]))
    answer = (f"Weather: {results[0]}.\nBest flight: {best}.\n"
              "Pack light layers and sunglasses; evenings are cool by the river.")
    body = {"model": "gpt-4o-mini", "messages": [dict(m) for m in messages], "tools": tools,
            "temperature": 0}
    rows.append(row(request_id=uid("trip", "round", 3), session=session, path="/trip/agent",
                    span=clock.span(1400), request_body=body,
                    response_body=openai_response(answer, 380), prompt_id="trip-planner"))
    judge = {"model": "gpt-4o-mini", "temperature": 0, "messages": [
        {"role": "system", "content": "You grade travel plans. Reply with 'Score: N/10' and"
                                      " one sentence."},
        {"role": "user", "content": f"Grade this plan for a 300 EUR budget:\n\n{answer}"}]}
    rows.append(row(request_id=uid("trip", "judge"), session=session, path="/trip/judge",
                    span=clock.span(700), request_body=judge,
                    response_body=openai_response(
                        "Score: 8/10. Clear and within budget, but no hotel suggested.", 150),
                    prompt_id="trip-judge"))
    return rows


def build_rows() -> list[dict]:
    from demo_formats import gemini_session, responses_session, sessionless_rows

    base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    formats_start = base + timedelta(days=1, hours=4)
    return [
        *responses_session(formats_start, row, uid, Clock(formats_start)),
        *gemini_session(formats_start, row, uid, Clock(formats_start + timedelta(hours=1))),
        *sessionless_rows(formats_start, row, uid, Clock(formats_start + timedelta(hours=2))),
        *batch_session(base),
        *streamed_session(base + timedelta(hours=5)),
        *anthropic_session(base + timedelta(days=1)),
        *agent_session(base + timedelta(days=2, hours=3)),
        *debate_session(base + timedelta(days=3, hours=1)),
        *trip_agent_session(base + timedelta(days=2, hours=6)),
    ]


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(OUT) + suffix).unlink(missing_ok=True)
    requests = [LoggedRequest.from_helicone_row(item) for item in build_rows()]
    with Store(OUT) as store:
        counts = store.upsert_requests(requests)
        store.checkpoint()
    sessions = len({r.session_id or r.id for r in requests})
    print(f"{OUT}: {counts.imported} requests, {sessions} sessions")


if __name__ == "__main__":
    main()

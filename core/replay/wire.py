"""What actually goes on the wire for one replayed request, per format and target.

The engine builds the body a request should carry (recorded body, chained substitutions,
edits); this module shapes it for where it goes. OpenAI-compatible targets (the local model,
Ollama, vLLM, a base URL) receive every format translated to chat completions; Gemini keeps
its model and streaming choice in the URL; rows logged without a model (Azure deployments)
get the logged row's model when the target needs one. Responses API chains are threaded
here too: a recorded `previous_response_id` becomes the *replayed* predecessor's id, or the
recorded chain is inlined as input items when the id cannot be used. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.formats import Format, format_named
from core.formats import gemini as gemini_format
from core.formats import responses as responses_format
from core.models import LoggedRequest
from core.replay.models import ReplayResult, ReplaySpec
from core.replay.transport import recorded_url, target_url

# A request id -> the replayed input items and result standing for it (None: use the recording).
ReplayedTurn = Callable[[str], "tuple[list[Any], ReplayResult] | None"]


class CannotSend(ValueError):
    """The request refers to something the target cannot resolve; the message says what."""


@dataclass(frozen=True)
class Wire:
    fmt: Format  # the format spoken on the wire (chat completions once translated)
    body: dict[str, Any]
    url: str
    stream: bool


def is_compatible_target(spec: ReplaySpec) -> bool:
    """A base URL (or the local model) speaks OpenAI chat completions, whatever was recorded."""
    return spec.via not in ("original", "helicone")


def shape(
    request: LoggedRequest,
    fmt: Format,
    body: dict[str, Any],
    spec: ReplaySpec,
    env: Mapping[str, str] | None = None,
) -> Wire:
    """The wire form of `body` (already edited) for the spec's target; TargetRefused or
    CannotSend when it cannot go there."""
    compatible = is_compatible_target(spec)
    if fmt.name == "responses":
        _check_stored_references(body, compatible)
    if fmt.name == "gemini":
        recorded = recorded_url(request, "gemini")
        model = str(
            body.get("model") or spec.model or gemini_format.model_from_url(recorded)
            or request.model
        )
        stream = (
            spec.stream if spec.stream is not None else gemini_format.is_stream_url(recorded)
        )
        if compatible:
            chat = fmt.to_chat(body)
            chat.update(model=model, stream=stream)
            if stream:
                chat["stream_options"] = {"include_usage": True}
            return _finish(request, format_named("openai"), chat, spec, env, stream)
        url = gemini_format.rewrite_url(
            target_url(request, "gemini", spec, env), model=model, stream=stream
        )
        return Wire(fmt, fmt.finalize(body, model=None, stream=None), url, stream)
    body = fmt.finalize(body, model=spec.model, stream=spec.stream)
    if compatible and fmt.name != "openai":
        body = fmt.to_chat(body)
        fmt = format_named("openai")
    return _finish(request, fmt, body, spec, env, bool(body.get("stream")))


def _finish(
    request: LoggedRequest,
    fmt: Format,
    body: dict[str, Any],
    spec: ReplaySpec,
    env: Mapping[str, str] | None,
    stream: bool,
) -> Wire:
    if spec.via != "original" and not body.get("model") and request.model not in ("", "unknown"):
        # Azure rows name the deployment in the URL, not the model in the body: anywhere but
        # the recorded deployment, the logged row's model stands in.
        body = {**body, "model": request.model}
    return Wire(fmt, body, target_url(request, fmt.name, spec, env), stream)


def _check_stored_references(body: dict[str, Any], compatible: bool) -> None:
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if isinstance(conversation, str) and conversation:
        raise CannotSend(
            f"continues the stored OpenAI conversation {conversation}; replaying it would add"
            " to that conversation, so it is not sent"
        )
    prompt = responses_format.stored_prompt(body)
    if prompt is not None and compatible:
        raise CannotSend(
            f"uses the stored OpenAI prompt {prompt['id']}"
            + (f" version {prompt['version']}" if prompt.get("version") else "")
            + ", which only OpenAI's Responses API can resolve; replay it with --via original"
        )


# -- Responses API chains ----------------------------------------------------------------------
def thread_chain(
    body: dict[str, Any],
    *,
    by_response: Mapping[str, str],
    requests: Mapping[str, LoggedRequest],
    results: Mapping[str, ReplayResult],
    chained: bool,
    keep_ids: bool,
    replayed_turn: ReplayedTurn | None = None,
) -> dict[str, Any]:
    """Resolve `previous_response_id` for the replay.

    `by_response` maps recorded response ids to the requests that produced them. In chained
    mode towards the Responses API the id becomes the replayed predecessor's own (when that
    one was stored); otherwise the chain is inlined as input items: each predecessor's input
    and its output (replayed in chained mode, recorded in isolated mode). A predecessor that
    is not in the session cannot be inlined: the Responses API may still know it, nothing
    else does.
    """
    previous = body.get("previous_response_id")
    if not isinstance(previous, str) or not previous:
        return body
    source = by_response.get(previous)
    if source is None:
        if keep_ids:
            return body
        raise CannotSend(
            f"continues response {previous}, which is not in this session; only OpenAI's"
            " Responses API can resolve it (--via original)"
        )
    if chained and keep_ids:
        turn = replayed_turn(source) if replayed_turn is not None else None
        replayed = turn[1] if turn is not None else results.get(source)
        new_id = responses_format.FORMAT.response_id(replayed.response_body) if replayed else None
        sent = replayed.sent_body if replayed is not None else None
        stored = not (isinstance(sent, dict) and sent.get("store") is False)
        if new_id and stored:
            return {**body, "previous_response_id": new_id}
    history = _history(source, by_response, requests, results, chained, replayed_turn)
    rest = {k: v for k, v in body.items() if k != "previous_response_id"}
    return {**rest, "input": history + input_items(body.get("input"))}


def _history(
    request_id: str,
    by_response: Mapping[str, str],
    requests: Mapping[str, LoggedRequest],
    results: Mapping[str, ReplayResult],
    chained: bool,
    replayed_turn: ReplayedTurn | None = None,
) -> list[Any]:
    """The input and output items of `request_id` and of every request it continues."""
    chain: list[str] = []
    seen: set[str] = set()
    current: str | None = request_id
    while current is not None and current not in seen:  # a cycle in a forged row stops here
        seen.add(current)
        chain.append(current)
        body = requests[current].request_body
        previous = body.get("previous_response_id") if isinstance(body, dict) else None
        current = by_response.get(previous) if isinstance(previous, str) else None
    items: list[Any] = []
    for link in reversed(chain):
        request = requests[link]
        turn = replayed_turn(link) if chained and replayed_turn is not None else None
        if turn is not None:
            items.extend(turn[0])
            items.extend(replayed_items(turn[1]))
            continue
        body = request.request_body if isinstance(request.request_body, dict) else {}
        items.extend(input_items(body.get("input")))
        replayed = results.get(link) if chained else None
        if replayed is not None and replayed.status in ("done", "diverged"):
            items.extend(replayed_items(replayed))
        else:
            items.extend(responses_format.FORMAT.output_items(request.response_body))
    return items


def input_items(raw: Any) -> list[Any]:
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    return list(raw) if isinstance(raw, list) else []


def replayed_items(result: ReplayResult) -> list[dict[str, Any]]:
    """A replayed turn as Responses input items, whichever format it was replayed in."""
    response = responses_format.unwrap_response(result.response_body)
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        return responses_format.FORMAT.output_items(response)
    items: list[dict[str, Any]] = []
    if result.output_text:
        items.append({"type": "message", "role": "assistant",
                      "content": [{"type": "output_text", "text": result.output_text}]})
    items.extend(
        {"type": "function_call", "call_id": call.id, "name": call.name,
         "arguments": call.arguments}
        for call in result.tool_calls
    )
    return items

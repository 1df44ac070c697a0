"""What the diff screen compares: a replay against the recording or against another replay.

`load_comparison` reads everything once (in a worker, never on the UI loop) and gives each
request its similarity and whether it changed. Replay-vs-replay similarities cost a word
diff each, so they are computed once per pair of replays and cached; a replay still running
(new results) gets fresh ones. `request_diff` is the word diff (or JSON-path changes) of one
request, also computed off the UI loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from core.diff import DiffResult, diff_json, diff_texts, similarity
from core.formats import ToolCall, recorded_output, request_format
from core.json_diff import json_changes, parse_json_answer, structural_result
from core.labels import request_labels
from core.replay.models import FAILED, SUCCEEDED, ReplayResult
from core.replay.plan import compared_answer
from core.store import Store
from core.text import dumps_json
from core.threads import share_the_interpreter

# Statuses worth stopping at with n/p, whatever the text (an agent's rounds that the replayed
# model never reached, or that wait for a tool result, changed too).
CHANGED = FAILED | {"diverged", "not_reached", "needs_tool_result"}
_CACHE_PAIRS = 16


@dataclass
class Side:
    """One side of a comparison: the text, tool calls or error of one response."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    error: str | None = None

    @property
    def shown(self) -> str:
        return self.error or self.text


@dataclass
class Comparison:
    """Every request of the session against a replay (and a base replay, when given)."""

    order: list[str]
    labels: dict[str, str]
    results: dict[str, ReplayResult]
    base_results: dict[str, ReplayResult]
    similarities: dict[str, float]  # the one similarity shown per request
    changed: set[str]
    recorded_failed: set[str]  # recorded non-2xx: nothing to compare with

    @property
    def replayed(self) -> int:
        """Requests with a replayed answer (not the rounds the agent never reached)."""
        return sum(1 for rid in self.order
                   if rid in self.results and self.results[rid].status in SUCCEEDED)

    @property
    def mean_similarity(self) -> float | None:
        sims = [self.similarities[rid] for rid in self.order if rid in self.similarities]
        return sum(sims) / len(sims) if sims else None

    def next_changed(self, current: str | None, step: int) -> str | None:
        """The next (step 1) or previous (-1) changed request after `current`, wrapping."""
        if not self.order:
            return None
        index = self.order.index(current) if current in self.order else -1
        for _ in range(len(self.order)):
            index = (index + step) % len(self.order)
            if self.order[index] in self.changed:
                return self.order[index]
        return None


@dataclass
class RequestDiff:
    """The diff of one request, ready to draw."""

    request_id: str
    result: ReplayResult | None
    replayed_text: str
    text: DiffResult  # the word diff (stats always come from it)
    shown: DiffResult  # what the view draws: the word diff or the JSON-path changes
    paths: DiffResult | None
    tools: DiffResult | None


_pair_cache: OrderedDict[tuple[str, str, tuple[str, ...]], dict[str, float]] = OrderedDict()
_cache_lock = threading.Lock()


def replay_pair_similarities(
    base_id: str, replay_id: str, base: dict[str, ReplayResult], results: dict[str, ReplayResult]
) -> dict[str, float]:
    """Similarity of each request both replays answered; once per pair of finished states."""
    stamp = tuple(sorted(f"{k}:{r.finished_at}" for k, r in (*base.items(), *results.items())))
    key = (base_id, replay_id, stamp)
    with _cache_lock:
        if key in _pair_cache:
            _pair_cache.move_to_end(key)
            return _pair_cache[key]
    sims: dict[str, float] = {}
    for request_id, result in results.items():
        if request_id in base:
            sims[request_id] = similarity(
                compared_answer(base[request_id].output_text, base[request_id].tool_calls),
                compared_answer(result.output_text, result.tool_calls))
            share_the_interpreter()
    with _cache_lock:
        _pair_cache[key] = sims
        while len(_pair_cache) > _CACHE_PAIRS:
            _pair_cache.popitem(last=False)
    return sims


def load_comparison(store: Store, session_id: str, replay_id: str, order: list[str],
                    base_id: str | None = None) -> Comparison:
    """Read the session, the replay (and the base replay) and roll each request up."""
    results = store.replay_results(replay_id)
    base = store.replay_results(base_id) if base_id else {}
    requests = store.session_requests(session_id)
    by_id = {r.id: r for r in requests}
    recorded_failed = set() if base_id else {
        r.id for r in requests if r.status is not None and not 200 <= r.status < 300}
    ids = [rid for rid in order if rid in by_id] or list(by_id)
    # Rounds a replayed agent added sit right after the round they follow (inserted).
    ids = _with_added(ids, results)
    if base_id:
        sims = replay_pair_similarities(base_id, replay_id, base, results)
    else:
        sims = {rid: r.similarity for rid, r in results.items() if r.similarity is not None}
    sims = {rid: s for rid, s in sims.items() if rid not in recorded_failed}
    # Against the recording, an agent round that called other tools changed even when its
    # text (often empty) is the same.
    changed = {rid for rid in ids if rid in results
               and (results[rid].status in CHANGED or results[rid].extra
                    or sims.get(rid, 1.0) < 1
                    or (not base_id and results[rid].tool_calls_changed))}
    labels = request_labels(requests)
    for key, result in results.items():
        if result.extra:
            labels[key] = f"+ added after {labels.get(result.after or '', result.after or '?')}"
    return Comparison(order=ids, labels=labels, results=results,
                      base_results=base, similarities=sims, changed=changed,
                      recorded_failed=recorded_failed)


def _with_added(ids: list[str], results: dict[str, ReplayResult]) -> list[str]:
    """`ids` in their order, each followed by the rounds a replayed agent added after it."""
    after: dict[str, list[str]] = {}
    for key, result in results.items():
        if result.extra and result.after:
            after.setdefault(result.after, []).append(key)
    order: list[str] = []

    def place(key: str) -> None:
        order.append(key)
        for added in after.get(key, []):
            place(added)

    for rid in ids:
        if not (results.get(rid) and results[rid].extra):
            place(rid)
    return order


def calls_json(calls: list[ToolCall]) -> list[dict[str, object]]:
    """Tool calls as name + arguments (parsed JSON when it is), ids left out: a replayed
    model names its calls anew; what matters is what it asked for."""
    import json

    shaped: list[dict[str, object]] = []
    for call in calls:
        try:
            arguments: object = json.loads(call.arguments or "{}")
        except ValueError:
            arguments = call.arguments
        shaped.append({"name": call.name, "arguments": arguments})
    return shaped


def original_side(store: Store, request_id: str, base_id: str | None,
                  base_results: dict[str, ReplayResult]) -> Side:
    """The left side: the base replay's answer, or what the recording answered (nothing for
    a round a replayed agent added: all of it is inserted)."""
    if "+" in request_id and not base_id:
        return Side()
    if base_id:
        base = base_results.get(request_id)
        if base is None:
            return Side(error="not replayed in the first replay")
        return Side(base.output_text, base.tool_calls, base.error)
    request = store.get_request(request_id)
    if request is None:
        return Side(error="request missing from the store")
    if request_format(request) is None:
        # A body in no known format: its raw response, as JSON, is what it answered.
        raw = request.response_body
        if raw is not None and not isinstance(raw, str):
            return Side(dumps_json(raw))
        return Side(raw or "")
    output = recorded_output(request)
    return Side(output.text, output.tool_calls, output.error)


def structure(old_text: str, new_text: str) -> DiffResult | None:
    """Changes by JSON path when both answers are JSON, else None (word diff)."""
    ok_a, value_a = parse_json_answer(old_text)
    ok_b, value_b = parse_json_answer(new_text)
    changes = json_changes(value_a, value_b) if ok_a and ok_b else None
    return None if changes is None else structural_result(changes)


def request_diff(store: Store, comparison: Comparison, request_id: str, base_id: str | None,
                 structural: bool) -> RequestDiff:
    """The diff of one request's two sides, word by word or by JSON path."""
    original = original_side(store, request_id, base_id, comparison.base_results)
    result = comparison.results.get(request_id)
    if result is None:
        same = diff_texts(original.text, original.text)
        return RequestDiff(request_id, None, "", same, same, None, None)
    replayed = Side(result.output_text, result.tool_calls, result.error)
    text = diff_texts(original.shown, replayed.shown)
    paths = structure(original.shown, replayed.shown) if structural else None
    tools = None
    if original.tool_calls or replayed.tool_calls:
        calls_a = calls_json(original.tool_calls)
        calls_b = calls_json(replayed.tool_calls)
        changes = json_changes(calls_a, calls_b) if structural else None
        tools = diff_json(calls_a, calls_b) if changes is None else structural_result(changes)
    return RequestDiff(request_id, result, replayed.text, text,
                       text if paths is None else paths, paths, tools)

"""A stored, deterministic replay of a demo session, for screenshots and UI snapshots.

It writes what a real replay would (spec with an edit, per-request results with word-level
similarity) without any network, so pictures and tests do not depend on a model.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.diff import similarity
from core.edits import EditSet, SystemEdit
from core.formats import recorded_output
from core.replay.models import Replay, ReplayResult, ReplaySpec
from core.store import Store

DEBATE_SESSION = "d3a9f2fb-282e-5b8d-98a8-2dc0e9681a75"
DEMO_EDIT = SystemEdit(
    scope="prompt",
    target="argument-evaluation",
    text=(
        "You are a strict judge of debate arguments. Score from 1 to 10 for validity and"
        " evidence, and name the single biggest weakness. Start with 'Score: N/10'."
    ),
)
FIXED_TIME = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
_SWAPS = {
    "real": "genuine",
    "concern": "risk",
    "stronger": "more convincing",
    "Clear": "A clear",
    "Plausible,": "Plausible on its face,",
    "well;": "convincingly;",
    "fair": "legitimate",
    "Directly": "It directly",
}


def rewrite(text: str, index: int) -> str:
    """A plausible 'stricter judge' rewrite: swapped words, a lower score, a named weakness."""
    words = [_SWAPS.get(word, word) for word in text.split(" ")]
    out = " ".join(words)
    if out.startswith("Score: ") and out[7:8].isdigit():
        score = max(1, int(out[7]) - 1 - index % 2)
        out = f"Score: {score}/10." + out[out.index("/10.") + 4:]
        out += " Biggest weakness: no quantitative evidence."
    return out


def seed_demo_replay(
    store: Store, session_id: str = DEBATE_SESSION, *, replay_id: str = "5eed0000-demo",
    partial: int | None = None,
) -> Replay:
    """Store a finished (or, with `partial`, a running) replay of `session_id`."""
    spec = ReplaySpec(
        session_id=session_id,
        edits=EditSet().set_system(DEMO_EDIT),
        mode="chained",
        via="http://127.0.0.1:8765/v1",
        concurrency=4,
    )
    replay = store.create_replay(spec, replay_id=replay_id, created_at=FIXED_TIME)
    requests = store.session_requests(session_id, bodies=True)
    for index, request in enumerate(requests):
        if partial is not None and index >= partial:
            break
        output = recorded_output(request)
        original = output.text
        edited = spec.edits.touches(request)
        text = rewrite(original, index) if edited else original
        if not edited and index % 3 == 1:
            text = text.replace("households", "families", 1)
        store.save_result(
            replay.id,
            ReplayResult(
                request_id=request.id,
                status="done",
                output_text=text,
                tool_calls=output.tool_calls,
                latency_ms=800.0 + 37 * index,
                prompt_tokens=request.prompt_tokens,
                completion_tokens=request.completion_tokens,
                similarity=similarity(original, text),
                attempts=1,
                finished_at=FIXED_TIME,
            ),
        )
    store.finish_replay(replay.id, "running" if partial is not None else "done")
    return store.get_replay(replay.id) or replay

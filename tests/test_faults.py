"""Misbehaving endpoints on loopback: every fault fails its own request with a precise reason,
bounded in time, with the raw answer kept; the replay itself always completes.

Tiny timeouts keep this fast; the defaults are documented in docs/reliability.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.models import LoggedRequest
from core.replay.engine import RetryPolicy, Timeouts, run_replay
from core.replay.models import ReplaySpec
from core.store import Store
from tests.fault_server import FaultServer
from tests.servers import recorded_request

FAST = RetryPolicy(max_attempts=3, base_s=0.01, cap_s=0.02)
TINY = Timeouts(connect=1.0, write=1.0, read=0.25, pool=1.0, total=0.6)

# fault -> (anthropic, stream, words the failure must contain, attempts)
CASES = {
    "openai-cut": (False, True, "stream ended before the answer was complete", 2),
    "anthropic-cut": (True, True, "stream ended before the answer was complete", 2),
    "non-json-sse": (False, True, "non-JSON event", 2),
    "empty-object": (False, False, "response has no choices", 2),
    "no-choices": (False, False, "response has no choices", 2),
    "null": (False, False, "response is not a JSON object", 2),
    "array": (False, False, "response is not a JSON object", 2),
    "odd-message": (False, False, "response choice has no message", 2),
    "odd-usage": (False, False, "not a whole number", 2),
    "hang": (False, False, "timed out", 2),
    "trickle": (False, True, "timed out", 2),
    "retry-after": (False, False, "asks to wait 100000 s", 1),
    "reset": (False, False, "cannot reach http://127.0.0.1", 3),
}
ANTHROPIC_EMPTY = "response has no content"


def request(request_id: str, url: str, *, anthropic: bool, stream: bool) -> LoggedRequest:
    body = {"model": "m", "max_tokens": 20, "stream": stream,
            "messages": [{"role": "user", "content": f"question {request_id}"}]}
    if not anthropic:
        body.pop("max_tokens")
    recorded = recorded_request(request_id, body, "an answer", anthropic=anthropic)
    return recorded.model_copy(update={"target_url": url})


@pytest.fixture
def faults():
    with FaultServer() as server:
        yield server


async def replay(store: Store, requests: list[LoggedRequest]):
    store.upsert_requests(requests)
    spec = ReplaySpec(session_id="s1", mode="isolated", allow_hosts=["127.0.0.1"],
                      concurrency=4)
    replay = await run_replay(store, spec, retry=FAST, timeouts=TINY)
    return replay, store.replay_results(replay.id)


@pytest.mark.parametrize("fault", list(CASES))
async def test_fault_fails_its_request_only(tmp_path: Path, faults: FaultServer,
                                            fault: str) -> None:
    anthropic, stream, words, attempts = CASES[fault]
    with Store(tmp_path / "f.db") as store:
        started = time.monotonic()
        replayed, results = await replay(store, [
            request("bad", faults.url(fault, anthropic=anthropic), anthropic=anthropic,
                    stream=stream),
            request("good", faults.url("ok", anthropic=anthropic), anthropic=anthropic,
                    stream=stream),
        ])
        elapsed = time.monotonic() - started
    bad, good = results["bad"], results["good"]
    assert good.status == "done" and good.output_text == "the answer is forty two"
    assert replayed.status == "failed"  # finished, with one failure
    assert bad.status == "failed" and words in (bad.error or ""), bad.error
    assert bad.attempts == attempts == faults.count(fault)
    assert bad.output_text == ""
    if fault not in ("hang", "reset", "retry-after"):
        assert bad.response_body not in (None, ""), "the raw answer is kept for inspection"
    # At most two deadlines (one retry) for a silent endpoint, plus backoff.
    assert elapsed < 2 * TINY.total + 2.0


async def test_anthropic_empty_body_and_live_odd_shapes(tmp_path: Path,
                                                       faults: FaultServer) -> None:
    with Store(tmp_path / "a.db") as store:
        _, results = await replay(store, [
            request("a-empty", faults.url("empty-object", anthropic=True), anthropic=True,
                    stream=False),
            request("deep", faults.url("deep"), anthropic=False, stream=False),
        ])
    assert results["a-empty"].status == "failed"
    assert ANTHROPIC_EMPTY in (results["a-empty"].error or "")
    # A response nested deeper than can be stored as JSON is kept as its text; the paid
    # answer is not lost.
    deep = results["deep"]
    assert deep.status == "done" and deep.output_text == "deep"
    assert isinstance(deep.response_body, str) and deep.response_body.startswith('{"choices"')


def test_cut_stream_cli_message(tmp_path: Path, faults: FaultServer) -> None:
    """The CLI says what failed in one line per request and exits 1."""
    from click.testing import CliRunner

    from tui.cli import cli

    db = tmp_path / "c.db"
    with Store(db) as store:
        store.upsert_requests([request("cut", faults.url("openai-cut"), anthropic=False,
                                       stream=True)])
    result = CliRunner().invoke(cli, ["--db", str(db), "replay", "s1", "--allow-host",
                                      "127.0.0.1", "--timeout", "2"], obj={})
    assert result.exit_code == 1
    assert "stream ended before the answer was complete" in result.stdout


def test_waits_say_what_is_awaited_and_for_how_long() -> None:
    from core.replay.models import ReplayEvent
    from core.replay.waits import Waits

    waits = Waits()
    assert waits.describe() == ""
    for replay_id, at in (("a", 0.0), ("b", 1.0)):  # a matrix: one request, two replays
        waits.feed(ReplayEvent(kind="started", replay_id=replay_id, request_id="q1",
                               message="waiting for api.openai.com (up to 600 s)"), now=at)
    assert waits.describe(now=12) == "q1: waiting for api.openai.com (up to 600 s) · 12 s (+1 more)"
    waits.feed(ReplayEvent(kind="retried", replay_id="a", request_id="q1",
                           message="HTTP 429: slow down; retrying in 2.0s"), now=13)
    waits.feed(ReplayEvent(kind="finished", replay_id="b", request_id="q1"), now=13)
    assert waits.describe(now=14) == "q1: HTTP 429: slow down; retrying in 2.0s · 1 s"
    # The app names the request by its path.
    assert waits.describe(now=14, names={"q1": "turn-1 · judge"}).startswith("turn-1 · judge: ")

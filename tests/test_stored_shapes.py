"""Whatever a store holds can be shown and replayed: odd shapes written by older versions or
other tools are rendered as far as they go, and a request that cannot be replayed is skipped
or failed alone while the rest of the session replays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.formats import detect_format
from core.models import LoggedRequest
from core.replay.engine import RetryPolicy, run_replay
from core.replay.models import ReplaySpec
from core.replay.plan import plan_replay
from core.store import Store
from core.tree import MAX_TREE_DEPTH, build_tree
from tests.servers import FakeProvider
from tests.test_cli import run

START = datetime(2025, 3, 14, 17, 0, tzinfo=UTC)
SESSION = "odd-session"
FAST = RetryPolicy(max_attempts=2, base_s=0.01, cap_s=0.02)


def _deep(levels: int, leaf: Any = "bottom") -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def _chat(content: Any = "hello", **message: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content, **message}]}


ANSWER = {"choices": [{"message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}]}

# id -> (request body, response body, session path); written without validation, as an
# older reprise or another tool could have.
ODD: dict[str, tuple[Any, Any, str]] = {
    "message-is-text": (_chat(), {"choices": [{"message": "hi"}]}, "/a"),
    "name-not-text": (_chat(name=5, tool_call_id={"x": 1}), ANSWER, "/a"),
    "tokens-text": (_chat(), {**ANSWER, "usage": {"prompt_tokens": "ten",
                                                  "completion_tokens": 1.5}}, "/a"),
    "usage-list": (_chat(), {**ANSWER, "usage": [1, 2]}, "/a"),
    "choices-text": (_chat(), {"choices": "none"}, "/a"),
    "tool-calls-text": (_chat(), {"choices": [{"message": {"content": None, "tool_calls": "x"}}]},
                        "/a"),
    "function-text": (_chat(), {"choices": [{"message": {"tool_calls": [{"function": "f"}]}}]},
                      "/a"),
    "deep-request": (_chat(_deep(300)), ANSWER, "/b"),
    "deep-response": (_chat(), {**ANSWER, "extra": _deep(300)}, "/b"),
    "messages-object": ({"model": "gpt-4o-mini", "messages": {"role": "user"}}, ANSWER, "/b"),
    "messages-number": ({"model": "gpt-4o-mini", "messages": 7, "system": 3}, ANSWER, "/b"),
    "body-list": ([1, 2, 3], ANSWER, "/b"),
    "long-path": (_chat(), ANSWER, "/" + "/".join(f"s{i}" for i in range(3000))),
    "good": (_chat("a normal question"), ANSWER, "/c"),
}


def _odd_request(request_id: str, index: int) -> LoggedRequest:
    body, response, path = ODD[request_id]
    created = START + timedelta(seconds=index)
    return LoggedRequest.model_construct(
        id=request_id, created_at=created, response_at=created + timedelta(seconds=1),
        session_id=SESSION, session_name="Odd", session_path=path, prompt_id=None,
        properties={}, scores={}, user_id=None, provider="openai", model="gpt-4o-mini",
        target_url="https://api.openai.com/v1/chat/completions", request_url=None,
        status=200, latency_ms=1.0, time_to_first_token_ms=None, prompt_tokens=None,
        completion_tokens=None, total_tokens=None, cost=None,
        request_body=body, response_body=response, body_state="full",
    )


@pytest.fixture
def odd_store(tmp_path: Path) -> Store:
    with Store(tmp_path / "odd.db") as store:
        store.upsert_requests([_odd_request(rid, n) for n, rid in enumerate(ODD)])
        # A lone surrogate escape and a body nested past what json can read back, as raw text.
        later = START + timedelta(seconds=100)
        for rid, text in [
            ("surrogate", '{"model":"m","messages":[{"role":"user","content":"a\\ud800b"}]}'),
            ("unreadable", "[" * 5000 + "]" * 5000),
        ]:
            store.execute(
                "INSERT INTO requests (id, session_id, created_at, session_path, request_body,"
                " response_body, version) VALUES (?,?,?,?,?,?,?)",
                (rid, SESSION, later.isoformat(), "/d", text, json.dumps(ANSWER), "v"),
            )
        yield store


ALL_IDS = [*ODD, "surrogate", "unreadable"]


@pytest.mark.parametrize("request_id", ALL_IDS)
def test_show_renders_every_shape(odd_store: Store, request_id: str) -> None:
    db = odd_store.path
    code, out, err = run(db, "show", request_id)
    assert code == 0 and "Traceback" not in err, err
    assert "[response]" in out or "not replayable" in out
    code, out, err = run(db, "show", request_id, "--json")
    assert code == 0 and json.loads(out)["id"] == request_id


def test_what_is_there_is_shown_and_odd_values_are_marked(odd_store: Store) -> None:
    fmt = detect_format(_chat())
    assert fmt.output({"choices": [{"message": "hi"}]}).text == "hi"
    message = fmt.messages(_chat(name=5, tool_call_id={"x": 1}))[0]
    assert message.name == "5" and message.tool_call_id == '{"x": 1}'
    output = fmt.output(ODD["tokens-text"][1])
    assert output.text == "fine" and output.prompt_tokens is None and output.completion_tokens is None
    code, out, _ = run(odd_store.path, "show", "surrogate")
    assert "a\ufffdb" in out


def test_tree_folds_a_path_of_thousands_of_segments(odd_store: Store) -> None:
    requests = odd_store.session_requests(SESSION)
    root = build_tree(requests)
    depth, folder = 0, root
    while folder.children:  # follow the long path's chain of folders
        folder = next(c for c in folder.children if c.name.startswith("s"))
        depth += 1
    assert depth == MAX_TREE_DEPTH
    assert folder.requests[0].id == "long-path" and folder.name.endswith("/s2999")
    assert folder.path.endswith("/s2999")
    code, out, err = run(odd_store.path, "tree", SESSION, "--json")
    assert code == 0 and "Traceback" not in err
    code, out, err = run(odd_store.path, "tree", SESSION)
    assert code == 0 and "Traceback" not in err


def test_plan_skips_what_cannot_be_replayed_with_reasons(odd_store: Store) -> None:
    requests = odd_store.session_requests(SESSION, bodies=True)
    plan = plan_replay(requests, ReplaySpec(session_id=SESSION))
    reasons = {item.id: item.skip_reason for item in plan.items}
    assert reasons["messages-object"] == "the request's `messages` is not a list"
    assert reasons["body-list"] == "the request body is not a JSON object"
    assert reasons["unreadable"] == "the request body is not a JSON object"
    assert reasons["good"] is None and reasons["message-is-text"] is None


async def test_a_session_of_odd_shapes_replays_to_the_end(odd_store: Store) -> None:
    with FakeProvider() as server:
        spec = ReplaySpec(session_id=SESSION, via=server.base_url + "/v1", mode="isolated",
                          api_key_env="ODD_TEST_KEY")
        replay = await run_replay(odd_store, spec, env={"ODD_TEST_KEY": "k"}, retry=FAST)
    results = odd_store.replay_results(replay.id)
    assert set(results) == set(ALL_IDS)
    assert results["good"].status == "done"
    assert results["body-list"].status == "skipped" and results["body-list"].error
    assert all(r.status in ("done", "failed", "skipped") for r in results.values())
    assert all(r.error for r in results.values() if r.status != "done")


async def test_a_deep_replayed_response_is_saved_not_lost(tmp_path: Path) -> None:
    with Store(tmp_path / "deep.db") as store:
        store.upsert_requests([_odd_request("good", 0)])
        deep_answer = {**ANSWER, "extra": _deep(400)}
        with FakeProvider() as server:
            server.fail_next(1, status=200, body=deep_answer)
            spec = ReplaySpec(session_id=SESSION, via=server.base_url + "/v1",
                              api_key_env="ODD_TEST_KEY")
            replay = await run_replay(store, spec, env={"ODD_TEST_KEY": "k"}, retry=FAST)
        result = store.replay_results(replay.id)["good"]
        assert result.status == "done" and result.output_text == "fine"
        assert isinstance(result.response_body, str)  # kept as its raw JSON text
        assert json.loads(result.response_body) == deep_answer


async def test_the_app_shows_every_odd_request(odd_store: Store) -> None:
    from tui.app import RepriseApp
    from tui.widgets.request_detail import RequestDetail

    app = RepriseApp(odd_store, start_session=SESSION)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("j", "j", "j")  # the tree itself, with the folded long path
        await pilot.pause()
        detail = app.screen.query_one(RequestDetail)
        for request_id in ALL_IDS:
            detail.show(odd_store.get_request(request_id))
            await pilot.pause()
            assert detail.request.id == request_id and detail.response_text is not None
        assert app.is_running


@pytest.mark.parametrize(
    "answer",
    [
        {"choices": [{"message": "hi"}]},
        {"choices": [{"message": {"content": "x", "name": 5, "tool_calls": "no"}}],
         "usage": {"prompt_tokens": "ten", "completion_tokens": 1.5}},
        {"choices": "none"},
    ],
)
async def test_a_live_answer_of_an_odd_shape_costs_that_request_only(
    tmp_path: Path, answer: dict
) -> None:
    with Store(tmp_path / "live.db") as store:
        store.upsert_requests([_odd_request("good", 0), _odd_request("message-is-text", 1)])
        with FakeProvider() as server:
            server.fail_next(1, status=200, body=answer)
            spec = ReplaySpec(session_id=SESSION, via=server.base_url + "/v1", mode="isolated",
                              api_key_env="ODD_TEST_KEY", concurrency=1)
            replay = await run_replay(store, spec, env={"ODD_TEST_KEY": "k"}, retry=FAST)
        results = store.replay_results(replay.id)
        assert set(results) == {"good", "message-is-text"}
        assert [r.status for r in results.values()].count("done") >= 1
        assert all(r.status in ("done", "failed") for r in results.values())
        assert all(r.error for r in results.values() if r.status == "failed")

"""A replay to the recorded providers without their keys is refused before anything is sent
or stored, naming each missing or unusable variable and the hosts that need it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from core.replay.engine import RetryPolicy, run_replay
from core.replay.models import ReplaySpec
from core.replay.transport import TargetRefused
from core.store import Store
from tests.servers import FakeProvider, recorded_request, redirect_transport

FAST = RetryPolicy(max_attempts=1, base_s=0.01, cap_s=0.02)


def seed(store: Store) -> None:
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    claude = {"model": "claude-3-5-haiku", "max_tokens": 50,
              "messages": [{"role": "user", "content": "hello"}]}
    own = recorded_request("q3", chat, "own", at=2).model_copy(
        update={"target_url": "https://llm.example/v1/chat/completions"})
    skipped = recorded_request("q4", claude, "x", anthropic=True, at=3).model_copy(
        update={"body_state": "preview", "session_id": "s2"})
    store.upsert_requests([recorded_request("q1", chat, "a", at=0),
                           recorded_request("q2", claude, "b", anthropic=True, at=1), own,
                           skipped, recorded_request("q5", chat, "c", session_id="s2", at=4)])


async def test_missing_and_invalid_keys_are_refused_before_sending(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store, FakeProvider() as openai, \
            FakeProvider() as anthropic, FakeProvider() as own:
        seed(store)
        ports = {"api.openai.com": openai.port, "api.anthropic.com": anthropic.port,
                 "llm.example": own.port}
        spec = ReplaySpec(session_id="s1", via="original", allow_hosts=["llm.example"])
        async with httpx.AsyncClient(transport=redirect_transport(ports)) as client:
            with pytest.raises(TargetRefused) as refused:
                await run_replay(store, spec, client=client, env={}, retry=FAST)
            message = str(refused.value)
            assert "$OPENAI_API_KEY is not set (needed by api.openai.com)" in message
            assert "$ANTHROPIC_API_KEY is not set (needed by api.anthropic.com)" in message
            assert "llm.example" not in message  # an allowed host without a known key
            assert "--via local" in message
            with pytest.raises(TargetRefused, match="OPENAI_API_KEY ends with a line break"):
                await run_replay(store, spec, client=client, retry=FAST,
                                 env={"OPENAI_API_KEY": "sk-x\n", "ANTHROPIC_API_KEY": "k"})
            assert openai.received == anthropic.received == own.received == []
            assert store.list_replays() == []
            # A skipped request (its body only previewed) needs no key.
            s2 = ReplaySpec(session_id="s2", via="original")
            done = await run_replay(store, s2, client=client, retry=FAST,
                                    env={"OPENAI_API_KEY": "sk-x"})
            assert done.status != "running" and len(openai.received) == 1
            assert anthropic.received == []


async def test_a_base_url_with_its_own_named_key_needs_no_provider_key(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store, FakeProvider() as openai:
        seed(store)
        spec = ReplaySpec(session_id="s2", via="https://api.openai.com/v1", api_key_env="MINE")
        ports = {"api.openai.com": openai.port}
        async with httpx.AsyncClient(transport=redirect_transport(ports)) as client:
            await run_replay(store, spec, client=client, env={"MINE": "sk-mine"}, retry=FAST)
            with pytest.raises(TargetRefused, match=r"\$OPENAI_API_KEY is not set"):
                await run_replay(store, spec.model_copy(update={"api_key_env": None}),
                                 client=client, env={"MINE": "sk-mine"}, retry=FAST)
        assert [r.headers["authorization"] for r in openai.received] == ["Bearer sk-mine"]


async def test_a_matrix_without_keys_is_refused_once_and_stores_nothing(
    tmp_path: Path,
) -> None:
    """A matrix sent to the recorded providers without their keys is refused before any
    cell starts, naming every missing key: no matrix, no replay left behind."""
    from core.matrix import MatrixSpec, list_matrices, run_matrix
    from core.replay.transport import TargetRefused

    with Store(tmp_path / "m.db") as store:
        seed(store)
        spec = MatrixSpec(session_ids=["s1"], via="original", allow_hosts=["llm.example"])
        with pytest.raises(TargetRefused) as refused:
            await run_matrix(store, spec, env={})
        assert "OPENAI_API_KEY" in str(refused.value)
        assert "ANTHROPIC_API_KEY" in str(refused.value)
        assert list_matrices(store) == [] and store.list_replays() == []

"""One long agent conversation recorded three ways, replayed chained against loopback.

    python bench/formats_bench.py [--turns 50 200]

The same N-turn conversation as (1) chat completions carrying the whole history (the
reference), (2) Responses API turns continuing `previous_response_id` — sent to a loopback
Responses API with each turn threaded to the replayed predecessor's id — and (3) the same
Responses turns replayed to an OpenAI-compatible chat target, where the chain is inlined into
every request. Prints planning time and replay wall time per format, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.models import LoggedRequest  # noqa: E402
from core.replay.engine import make_client, run_replay  # noqa: E402
from core.replay.models import ReplaySpec  # noqa: E402
from core.replay.plan import plan_replay  # noqa: E402
from core.store import Store  # noqa: E402
from tests.servers import (  # noqa: E402
    redirect_transport,
    tutor_conversation,
)

SYSTEM = "You are a patient tutor."


def responses_conversation(turns: int) -> list[LoggedRequest]:
    start = datetime(2025, 4, 5, tzinfo=UTC)
    requests = []
    previous = None
    for turn in range(turns):
        body: dict = {"model": "gpt-4.1-mini", "instructions": SYSTEM,
                      "input": [{"role": "user", "content": f"Question {turn}: explain step {turn}."}]}
        if previous:
            body["previous_response_id"] = previous
        rid = f"resp_rec{turn:05d}"
        answer = f"reply({SYSTEM}): Question {turn} (turn {turn}, explained in full)"
        response = {"id": rid, "object": "response", "status": "completed",
                    "output": [{"type": "message", "role": "assistant", "id": f"msg_{turn}",
                                "content": [{"type": "output_text", "text": answer}]}],
                    "usage": {"input_tokens": 10, "output_tokens": 10}}
        requests.append(LoggedRequest(
            id=f"r{turn:05d}", created_at=start + timedelta(seconds=turn), session_id="long",
            provider="openai", model="gpt-4.1-mini",
            target_url="https://api.openai.com/v1/responses",
            request_body=body, response_body=response, status=200))
        previous = rid
    return requests


async def replay(store: Store, spec: ReplaySpec, client) -> float:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    result = await run_replay(store, spec, client=client, env={"OPENAI_API_KEY": "sk-bench"})
    elapsed = time.perf_counter() - began
    assert result.status == "done", result.status
    return elapsed


def measure(requests: list[LoggedRequest], spec: ReplaySpec, client_factory) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    plan_replay(requests, spec)
    planning = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "b.db") as store:
        store.upsert_requests(requests)

        async def run() -> float:
            client = client_factory()
            try:
                return await replay(store, spec, client)
            finally:
                await client.aclose()

        wall = asyncio.run(run())
    return planning, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, nargs="+", default=[50, 200])
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-m", "tests.servers", "--latency", "0"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        port = int(base_url.rsplit(":", 1)[1])
        import httpx

        def redirected() -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=redirect_transport({"api.openai.com": port}))

        print(f"{'turns':>6} {'format':<34} {'plan s':>8} {'replay s':>9} {'ms/request':>11}")
        for turns in args.turns:
            rows = [
                ("chat, full history (reference)", tutor_conversation(turns, SYSTEM),
                 ReplaySpec(session_id="long", via=base_url), lambda: make_client(8)),
                ("responses, replayed ids", responses_conversation(turns),
                 ReplaySpec(session_id="long"), redirected),
                ("responses → chat, chain inlined", responses_conversation(turns),
                 ReplaySpec(session_id="long", via=base_url), lambda: make_client(8)),
            ]
            for label, requests, spec, factory in rows:
                planning, wall = measure(requests, spec, factory)
                print(f"{turns:>6} {label:<34} {planning:>8.3f} {wall:>9.2f} "
                      f"{1000 * wall / turns:>11.1f}")
    finally:
        server.terminate()
        server.wait(timeout=5)


if __name__ == "__main__":
    main()

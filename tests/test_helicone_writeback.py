"""Scores written back to Helicone for a replay logged there (`reprise score --write-helicone`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from core.demo import demo_store_copy
from core.edits import EditSet, SystemEdit
from core.replay.engine import run_replay
from core.replay.models import ReplaySpec
from core.store import Store
from tests.helicone_server import TEST_KEY, FakeHelicone
from tests.servers import FakeProvider, system_and_last_user
from tui.cli import cli


def judge_reply(body: dict[str, Any]) -> str:
    system, user = system_and_last_user(body)
    return "Score: 9/10. Short." if "impartial judge" in system else f"counter: {user[:30]}"


def test_replay_records_helicone_ids_and_scores_are_written_back(tmp_path: Path) -> None:
    db = demo_store_copy(tmp_path)
    with Store(db) as store:
        session = next(s.id for s in store.list_sessions() if s.name == "AI Debate")
    with FakeProvider(reply=judge_reply) as provider, FakeHelicone() as helicone:
        counter = iter(range(1000))
        provider.response_headers = lambda body: {"Helicone-Id": f"hel-{next(counter)}"}
        edits = EditSet().set_system(
            SystemEdit(target="argument-evaluation", text=" Keep it short.", mode="append")
        )
        with Store(db) as store:
            replay = asyncio.run(
                run_replay(
                    store,
                    ReplaySpec(session_id=session, edits=edits, via=provider.base_url),
                    env={},
                )
            )
            ids = {r.helicone_id for r in store.replay_results(replay.id).values()}
        assert len(ids) == 9 and all(i and i.startswith("hel-") for i in ids)

        result = CliRunner(env={"HELICONE_API_KEY": TEST_KEY}).invoke(
            cli,
            [
                "--db",
                str(db),
                "score",
                replay.id,
                "--score",
                r"argument-evaluation=Score:\s*(\d+)",
                "--write-helicone",
                "--helicone-url",
                helicone.url,
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        writes = json.loads(result.stdout)["helicone_writes"]
        assert len(writes) == 6 and all(w["ok"] for w in writes)
        posted = [r for r in helicone.recorded if r.path.endswith("/score")]
        assert len(posted) == 6
        assert all(r.headers["authorization"] == f"Bearer {TEST_KEY}" for r in posted)
        assert {r.path.split("/")[3] for r in posted} <= ids
        assert all(
            r.body == {"scores": {"reprise_argument-evaluation": 9.0}}
            or list(r.body["scores"].values()) == [9.0]
            for r in posted
        )


def test_write_back_needs_helicone_ids(tmp_path: Path) -> None:
    db = demo_store_copy(tmp_path)
    with Store(db) as store:
        session = next(s.id for s in store.list_sessions() if s.name == "AI Debate")
    with FakeProvider(reply=judge_reply) as provider, Store(db) as store:
        replay = asyncio.run(
            run_replay(store, ReplaySpec(session_id=session, via=provider.base_url), env={})
        )
    result = CliRunner(env={"HELICONE_API_KEY": TEST_KEY}).invoke(
        cli, ["--db", str(db), "score", replay.id, "--write-helicone"]
    )
    assert result.exit_code == 1
    assert "--via helicone" in result.stderr

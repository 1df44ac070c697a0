"""Every `--json` output writes timestamps in one form: UTC, milliseconds, `Z`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from core.replay.models import ReplaySpec
from core.store import Store
from core.text import dumps_json
from tests.servers import recorded_request
from tui.cli import cli

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_sessions_replays_and_show_agree_on_timestamps(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    with Store(db) as store:
        store.upsert_requests([recorded_request("q1", body, "a")])
        replay = store.create_replay(ReplaySpec(session_id="s1"))
        store.finish_replay(replay.id, "failed")

    def run(*args: str) -> object:
        result = CliRunner().invoke(cli, ["--db", str(db), *args, "--json"], obj={})
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    session = run("sessions")[0]
    listed = run("replays")[0]
    shown = run("show", "q1")
    stamps = [session["started_at"], session["ended_at"], listed["created_at"],
              listed["finished_at"], shown["created_at"], shown["response_at"]]
    assert all(STAMP.match(stamp) for stamp in stamps), stamps
    assert dumps_json(datetime(2025, 3, 14, 17, 0, tzinfo=UTC)) == '"2025-03-14T17:00:00.000Z"'

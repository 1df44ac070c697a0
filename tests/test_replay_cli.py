"""`reprise replay` / `reprise replays` end to end, including resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from core.store import Store
from tests.servers import FakeProvider, recorded_request
from tui.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def seed(db: Path, n: int = 8) -> None:
    reqs = []
    for i in range(n):
        body = {"model": "m", "messages": [{"role": "system", "content": "old"},
                                           {"role": "user", "content": f"n{i}"}]}
        reqs.append(recorded_request(f"q{i}", body, f"reply(old): n{i}", prompt_id="p", at=i))
    with Store(db) as store:
        store.upsert_requests(reqs)


def test_replay_json_and_replays_list(tmp_path):
    db = tmp_path / "c.db"
    seed(db, 3)
    with FakeProvider() as server:
        runner = CliRunner()
        result = runner.invoke(cli, ["--db", str(db), "replay", "s1", "--system", "p=new",
                                     "--via", server.base_url, "--temperature", "0.2",
                                     "--json"], obj={})
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert set(out) >= {"replay_id", "session_id", "mode", "requests", "failed",
                            "wall_seconds"}
        assert out["mode"] == "chained" and out["failed"] == 0
        assert [r["request_id"] for r in out["requests"]] == ["q0", "q1", "q2"]
        assert all(0 <= r["similarity"] < 1 for r in out["requests"])
        assert server.received[0].body["temperature"] == 0.2
        assert server.received[0].body["messages"][0]["content"] == "new"
        server.fail_if(lambda b: True, status=400)
        failed = runner.invoke(cli, ["--db", str(db), "replay", "s1", "--via", server.base_url,
                                     "--json"], obj={})
        assert failed.exit_code == 1 and json.loads(failed.stdout)["failed"] == 3
    listed = runner.invoke(cli, ["--db", str(db), "replays", "s1", "--json"], obj={})
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["failed", "done"]
    assert runner.invoke(cli, ["--db", str(db), "replays"], obj={}).exit_code == 0
    bad = runner.invoke(cli, ["--db", str(db), "replay", "nope"], obj={})
    assert bad.exit_code != 0 and "no session" in bad.output


def test_resume_after_sigkill(tmp_path):
    db = tmp_path / "k.db"
    seed(db, 8)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MY_KEY": "custom-SECRET-77"}
    with FakeProvider(latency=0.3) as server:
        base = [sys.executable, "-m", "tui.cli", "--db", str(db), "replay"]
        proc = subprocess.Popen(
            [*base, "s1", "--system", "p=new", "--via", server.base_url, "--concurrency", "2",
             "--api-key-env", "MY_KEY", "--json"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        done = 0
        while time.monotonic() < deadline and done < 3:
            time.sleep(0.05)
            try:
                with sqlite3.connect(db) as conn:
                    done = conn.execute(
                        "SELECT COUNT(*) FROM replay_results WHERE status = 'done'").fetchone()[0]
            except sqlite3.OperationalError:
                continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 3 <= done < 8
        with Store(db) as store:
            (replay,) = store.list_replays("s1")
            assert replay.status == "interrupted"  # killed: its process is gone
            finished = {k for k, r in store.replay_results(replay.id).items()
                        if r.status == "done"}
        # The stored target is not trusted: the person resuming names it again.
        refused = subprocess.run([*base, "--resume", replay.id, "--json"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1
        assert f"--via {server.base_url} --api-key-env MY_KEY" in refused.stderr
        resumed = subprocess.run([*base, "--resume", replay.id, "--via", server.base_url,
                                  "--api-key-env", "MY_KEY", "--json"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert resumed.returncode == 0, resumed.stderr
        out = json.loads(resumed.stdout)
        assert out["replay_id"] == replay.id and len(out["requests"]) == 8
        # A request the kill cut off mid-send reaches the server without its body.
        sent = Counter(r.body["messages"][-1]["content"] for r in server.received
                       if isinstance(r.body, dict) and r.body.get("messages"))
        for request_id in finished:
            assert sent[f"n{request_id[1:]}"] == 1  # nothing finished is sent twice
        assert set(sent) == {f"n{i}" for i in range(8)}
        assert all(r.headers["authorization"] == "Bearer custom-SECRET-77"
                   for r in server.received)
    for path in tmp_path.glob("k.db*"):
        assert b"SECRET" not in path.read_bytes()


def test_missing_key_variable_fails_before_anything_is_sent(tmp_path):
    db = tmp_path / "k.db"
    seed(db, 2)
    with FakeProvider() as server:
        result = CliRunner(env={"REPRISE_TEST_UNSET_KEY": None}).invoke(
            cli, ["--db", str(db), "replay", "s1", "--via", server.base_url,
                  "--api-key-env", "REPRISE_TEST_UNSET_KEY"])
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            "reprise: --api-key-env REPRISE_TEST_UNSET_KEY: that variable is not set in the"
            " environment"
        ]
        assert server.received == []
    with Store(db) as store:
        assert store.list_replays() == []


def test_a_tool_command_that_fails_is_reported(tmp_path: Path) -> None:
    """`exec:` with a mistyped command still answers the model (with the error): the
    summary warns instead of reading like a clean run."""
    from tests.agent_fake import agent_reply, agent_session

    db = tmp_path / "a.db"
    with Store(db) as store:
        store.upsert_requests(agent_session("You research. STEPS: search(alpha)"))
    with FakeProvider(reply=agent_reply) as server:
        result = CliRunner().invoke(cli, [
            "--db", str(db), "replay", "s1", "--via", server.base_url, "--system",
            "agent=You research. STEPS: lookup(moon)", "--tool", "lookup=exec:no-such-cmd-qa"])
    assert result.exit_code == 0, result.output
    assert "warning: 1 tool command call failed" in result.stderr
    assert "no-such-cmd-qa" in result.stderr


def test_an_edit_for_a_prompt_id_the_session_lacks_is_refused(tmp_path: Path) -> None:
    """A typo in `--system PROMPT_ID=…` would replay the session unchanged: refused before
    anything is sent, naming the prompt ids there are."""
    from core.demo import demo_store_copy

    db = demo_store_copy(tmp_path)
    with FakeProvider() as server:
        result = CliRunner().invoke(cli, [
            "--db", str(db), "replay", "24b0dd9f", "--via", server.base_url,
            "--system", "trip-planer=Be brief."])
        assert result.exit_code == 1
        assert "prompt ids: trip-judge, trip-planner" in result.stderr
        assert not server.received


def test_matrix_and_score_refuse_prompt_ids_the_session_lacks(tmp_path: Path) -> None:
    """A typo in `--variant`/`--score` would plan paid calls for identical cells or score
    nothing: refused, naming the prompt ids there are."""
    from core.demo import demo_store_copy

    db = demo_store_copy(tmp_path)

    def run(*args: str):  # noqa: ANN202
        return CliRunner().invoke(cli, ["--db", str(db), *args])

    typo = run("matrix", "24b0dd9f", "--variant", "trip-planer=+ Be brief.", "--dry-run")
    assert typo.exit_code == 1 and "--variant trip-planer" in typo.stderr
    assert "prompt ids: trip-judge, trip-planner" in typo.stderr
    scored = run("matrix", "24b0dd9f", "--variant", "trip-planner=+ Be brief.",
                 "--score", "trip-jugde=(\\d+)", "--dry-run")
    assert scored.exit_code == 1 and "--score trip-jugde" in scored.stderr
    fine = run("matrix", "24b0dd9f", "--variant", "trip-planner=+ Be brief.", "--dry-run")
    assert fine.exit_code == 0 and "2 cells" in fine.stdout

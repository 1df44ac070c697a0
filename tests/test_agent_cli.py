"""`reprise replay` on an agent session: tool rule flags, the `--json` shape, stop and resume."""

from __future__ import annotations

import json

from click.testing import CliRunner

from core.store import Store
from tests.agent_fake import agent_reply, agent_session
from tests.servers import FakeProvider
from tui.cli import cli

RECORDED = "You research. STEPS: search(alpha); fetch(doc1)"


def run(db, *args):
    return CliRunner().invoke(cli, ["--db", str(db), "replay", *args], obj={})


def test_json_contract_stop_and_resume(tmp_path):
    db = tmp_path / "a.db"
    with Store(db) as store:
        store.upsert_requests(agent_session(RECORDED))
    edited = "You research. STEPS: search(alpha); lookup(moon); fetch(doc1); search(more)"
    with FakeProvider(reply=agent_reply) as server:
        base = ["s1", "--system", f"agent={edited}", "--via", server.base_url, "--json"]
        bad = run(db, *base, "--tools-default", "sometimes")
        assert bad.exit_code == 1 and "unknown tool rule" in bad.output
        assert not server.received  # refused before anything was sent
        stopped = run(db, *base, "--tool", "lookup=stop", "--tool", "nosuch=error",
                      "--max-extra-turns", "5")
        assert stopped.exit_code == 3, stopped.output
        assert "never offered a tool named 'nosuch'" in stopped.stderr
        out = json.loads(stopped.stdout)
        assert out["status"] == "needs_tool_result"
        rows = {r["request_id"]: r for r in out["requests"]}
        assert rows["r2"]["tool_results"] == [
            {"call_id": "call_0_0", "name": "search", "source": "recorded"}]
        assert rows["r3"]["status"] == "needs_tool_result"
        assert rows["r3"]["pending_calls"] == [
            {"call_id": "call_1_0", "name": "lookup", "arguments": '{"arg": "moon"}'}]
        assert rows["r3"]["tool_results"] == [
            {"call_id": "call_1_0", "name": "lookup", "source": "stop"}]
        assert out["tool_calls"] == {"recorded": 1, "rule": 0, "user": 0, "stopped": 1}

        rid = out["replay_id"]
        again = ["--via", server.base_url]  # a base URL target is named again on resume
        unknown = run(db, "--resume", rid, *again, "--tool-result", "nope=x", "--json")
        assert unknown.exit_code == 1 and "call_1_0" in unknown.output
        answer = tmp_path / "moon.txt"
        answer.write_text("the moon has no capital")
        resumed = run(db, "--resume", rid, *again, "--tool-result", f"call_1_0=@{answer}",
                      "--json")
        assert resumed.exit_code == 0, resumed.output
        out = json.loads(resumed.stdout)
        assert out["status"] == "done"
        requests = out["requests"]
        assert [r["request_id"] for r in requests] == ["r1", "r2", "r3", None, None, "judge"]
        first, second = requests[3], requests[4]
        assert (first["extra"], first["after"], first["id"]) == (True, "r3", "r3+1")
        assert (second["after"], second["id"]) == ("r3+1", "r3+2")
        assert first["tool_results"] == [
            {"call_id": "call_2_0", "name": "fetch", "source": "recorded"}]
        assert second["tool_results"][0]["source"] == "error"  # search(more): default rule
        assert out["tool_calls"] == {"recorded": 2, "rule": 1, "user": 1, "stopped": 0}

        fewer = run(db, "s1", "--system", "agent=You research. STEPS: search(alpha)",
                    "--via", server.base_url, "--json")
        assert fewer.exit_code == 0
        statuses = {r["request_id"]: r["status"] for r in json.loads(fewer.stdout)["requests"]}
        assert statuses == {"r1": "done", "r2": "done", "r3": "not_reached", "judge": "done"}

        text = run(db, "s1", "--system", f"agent={edited}", "--via", server.base_url,
                   "--tool", "lookup=stub:none")
        assert text.exit_code == 0
        assert "+ added after agent #3" in text.output and "lookup:stub" in text.output
        assert "2 matched from recording, 2 by rule (0 executed)" in text.output

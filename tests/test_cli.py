"""The command line, run as users run it (CliRunner on a real store file)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import DEBATE_SESSION
from tui.cli import cli


def run(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    return result.exit_code, result.stdout, result.stderr


def test_import_sessions_tree_show(tmp_path: Path, fixture_files: list[Path]) -> None:
    db = tmp_path / "cli.db"
    code, out, _ = run(db, "import", *map(str, fixture_files), "--json")
    assert code == 0
    assert json.loads(out) == {
        "imported": 4, "updated": 2, "unchanged": 0, "skipped": 5, "errors": []
    }

    code, out, _ = run(db, "sessions", "--json")
    sessions = json.loads(out)
    assert code == 0 and len(sessions) == 1
    assert {"id", "name", "requests", "started_at", "ended_at", "cost"} <= sessions[0].keys()
    assert sessions[0]["started_at"] == "2025-03-14T17:01:58.104Z"

    code, out, _ = run(db, "tree", DEBATE_SESSION, "--json")
    tree = json.loads(out)
    assert tree["path"] == "/" and tree["children"][0]["name"] == "debate"

    code, out, _ = run(db, "show", "a1e7c3d2-5f64-4b8a-9c0d-1e2f3a4b5c61")
    assert code == 0 and "impartial judge" in out and "Score: 6/10" in out

    code, out, _ = run(db, "sessions", "--search", "nothing-matches", "--json")
    assert json.loads(out) == []


def test_failures_are_one_line_on_stderr(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    code, _, err = run(db, "tree", "no-such-session")
    assert code == 1 and err.startswith("reprise: no session 'no-such-session' in ")
    code, _, err = run(db, "show", "nope")
    assert code == 1 and "no request" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    code, out, err = run(db, "import", str(bad))
    assert code == 1 and "invalid JSON" in err


def test_short_ids_printed_by_the_cli_and_app_are_accepted(tmp_path: Path) -> None:
    """`reprise tree` prints 8-character request ids and the app 14-character session ids:
    both work as arguments, an ambiguous prefix fails naming the candidates."""
    from core.demo import demo_store_copy

    db = demo_store_copy(tmp_path)
    code, out, _ = run(db, "tree", "24b0dd9f")
    assert code == 0 and "ac661407" in out
    code, out, _ = run(db, "show", "ac661407")
    assert code == 0 and "Plan a weekend in Lisbon" in out
    code, out, _ = run(db, "replays", "24b0dd9f-fc5d", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(db, "show", "a")
    assert code == 1 and "ambiguous" in err and err.count("\n") == 1
    code, _, err = run(db, "show", "24b0dd9f")  # a session id where a request id goes
    assert code == 1 and "'24b0dd9f' is a session: `reprise tree 24b0dd9f`" in err


def test_sessions_table_reads_like_the_app(tmp_path: Path) -> None:
    """Costs and durations as the app prints them; a search matching nothing says so."""
    from core.demo import demo_store_copy

    db = demo_store_copy(tmp_path)
    code, out, _ = run(db, "sessions")
    assert code == 0 and "$0.000008" in out and "4m35s" in out and "$0.0000 " not in out
    code, out, _ = run(db, "sessions", "--search", "no-such-thing")
    assert code == 0 and out.strip() == "No session matches 'no-such-thing'."


def test_show_prints_markup_and_escapes_literally(tmp_path: Path) -> None:
    from core.demo import demo_store_copy

    db = demo_store_copy(tmp_path)
    code, out, _ = run(db, "sessions", "--json")
    agent = next(s for s in json.loads(out) if s["name"] == "Research Agent")
    code, out, _ = run(db, "tree", agent["id"], "--json")
    answer_folder = next(
        c for c in json.loads(out)["children"][0]["children"] if c["name"] == "answer"
    )
    code, out, _ = run(db, "show", answer_folder["requests"][-1])
    assert "[bold red]BREAKING[/bold red]" in out
    assert "\x1b" not in out and "␛[31m" in out


def test_core_never_imports_textual() -> None:
    root = Path(__file__).resolve().parent.parent
    modules = sorted(
        ".".join(p.with_suffix("").relative_to(root).parts) for p in (root / "core").rglob("*.py")
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "assert 'textual' not in sys.modules, [m for m in sys.modules if 'textual' in m]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr
    assert len(modules) >= 8


def test_cli_help_does_not_import_textual() -> None:
    code = "from tui.cli import cli; import sys; assert 'textual' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_untrusted_text_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    from core.replay.models import ReplaySpec
    from core.store import Store
    from tests.conftest import load_fixture

    evil = "\x1b[31mred\x1b]0;title\x07 [bold red]loud[/] \r\x9bover"
    good = load_fixture("request-query-clickhouse.page.json")["data"][0]
    properties = {
        **good["request_properties"],
        "Helicone-Session-Id": "sess-\x1b[2J",
        "Helicone-Session-Name": evil,
        "Helicone-Session-Path": "/a/\x1b[2J/[b]x",
    }
    row = {**good, "request_id": "req-\x1b[5m", "request_properties": properties,
           "model": "gpt\x1b[5m"}
    lonely_body = {"request_id": "ghost-\x1b]0;t\x07", "request": {}, "response": {}}
    export = tmp_path / "evil.json"
    export.write_text(json.dumps([row, lonely_body]))
    db = tmp_path / "evil.db"
    with Store(db) as store:
        store.create_replay(ReplaySpec(session_id="sess-\x1b[2J", via="http://h/\x1b[31m"))

    outputs = [run(db, "import", str(export))]
    outputs.append(run(db, "sessions"))
    outputs.append(run(db, "tree", "sess-\x1b[2J"))
    outputs.append(run(db, "show", "req-\x1b[5m"))
    outputs.append(run(db, "replays"))
    outputs.append(run(db, "show", "missing-\x1b[5m"))
    for _code, out, err in outputs:
        for raw in ("\x1b", "\x07", "\r", "\x9b"):
            assert raw not in out and raw not in err, (raw, out, err)
    assert "[bold red]loud[/]" in outputs[1][1]
    assert "␛[2J" in outputs[2][1] and "[b]x" in outputs[2][1]
    assert "gpt␛[5m" in outputs[3][1]
    assert "http://h/␛[31m" in outputs[4][1]
    assert outputs[5][0] == 1 and len(outputs[5][2].splitlines()) == 1


def test_store_is_closed_when_a_command_fails(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "closed.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "replay", "--resume", "nope"])
    assert result.exit_code == 1 and "no replay 'nope'" in result.stderr
    # Switching out of WAL needs every other connection gone; `result` still holds the
    # command's frames, so a store left open by the command would make this fail.
    other = sqlite3.connect(db)
    try:
        assert other.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    finally:
        other.close()


def test_pull_into_a_file_that_is_not_a_store_fails_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "not-a-store.db"
    db.write_bytes(b"this is not SQLite" * 100)
    result = CliRunner(env={"HELICONE_API_KEY": "sk-helicone-test"}).invoke(
        cli, ["--db", str(db), "pull", "--session", "s1"]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"reprise: {db} is not a SQLite database (not a reprise store, or its first page is"
        " damaged); pass --db with a reprise store or a new file"
    ]
    assert db.read_bytes() == b"this is not SQLite" * 100


def test_json_output_never_carries_raw_terminal_controls(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("plain \x9b31m text\u202e end\x7f\n", encoding="utf-8", newline="")
    b.write_text("plain \x9b32m text end\n", encoding="utf-8", newline="")
    result = CliRunner().invoke(cli, ["diff", str(a), str(b), "--json"])
    assert result.exit_code == 0
    assert not any(ch in result.stdout for ch in "\x7f\x9b\u202e")
    data = json.loads(result.stdout)
    assert "".join(op[1] for op in data["ops"]) == a.read_text(encoding="utf-8")
    assert "".join(op[2] for op in data["ops"]) == b.read_text(encoding="utf-8")


def test_sessions_without_cost_read_unknown_not_zero(tmp_path: Path) -> None:
    """A recording or a trace imported without costs has no cost: `–` and null, not $0;
    a session where some requests have a cost shows their sum."""
    from datetime import UTC, datetime, timedelta

    from core.models import LoggedRequest
    from core.store import Store

    start = datetime(2025, 3, 14, 17, 0, tzinfo=UTC)

    def request(rid: str, session: str | None, cost: float | None, index: int) -> LoggedRequest:
        return LoggedRequest(id=rid, session_id=session, session_name=f"name-{session}",
                             created_at=start + timedelta(minutes=index), cost=cost)

    db = tmp_path / "nocost.db"
    with Store(db) as store:
        store.upsert_requests([
            request("a1", "recorded", None, 0), request("a2", "recorded", None, 1),
            request("b1", "mixed", 0.25, 2), request("b2", "mixed", None, 3),
            request("lone", None, None, 4),
        ])
    code, out, _ = run(db, "sessions", "--json")
    costs = {s["id"]: s["cost"] for s in json.loads(out)}
    assert code == 0 and costs == {"recorded": None, "mixed": 0.25, "lone": None}
    code, out, _ = run(db, "sessions")
    line = {key: next(row for row in out.splitlines() if key in row)
            for key in ("name-recorded", "name-mixed", "lone")}
    assert code == 0 and "$0 " not in out and "$0.25" in line["name-mixed"]
    assert line["name-recorded"].split()[-2] == line["lone"].split()[-2] == "–"


def test_only_opening_the_app_skips_click(monkeypatch) -> None:
    from tui.cli import app_only

    monkeypatch.delenv("REPRISE_DB", raising=False)
    assert app_only([]) == (True, None)
    assert app_only(["--db", "s.db"]) == (True, "s.db")
    assert app_only(["--db=s.db"]) == (True, "s.db")
    monkeypatch.setenv("REPRISE_DB", "env.db")
    assert app_only([]) == (True, "env.db")
    for args in (["--db"], ["--db", "s.db", "sessions"], ["--help"], ["--version"],
                 ["demo"], ["--db", "--help"], ["--db="]):
        assert app_only(args) == (False, None), args
    done = subprocess.run([sys.executable, "-c", "import sys, tui.cli;"
                           " assert 'click' not in sys.modules"], capture_output=True)
    assert done.returncode == 0, done.stderr


def test_opening_the_app_on_a_directory_fails_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tui.cli", "--db", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"reprise: --db {tmp_path} is a directory; pass the store's file name"]

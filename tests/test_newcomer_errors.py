"""Errors a newcomer can cause: each is one message naming the file, field or id to fix."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from core.demo import demo_store_copy
from core.demo_replay import DEBATE_SESSION, seed_demo_replay
from core.store import Store
from tui.cli import cli
from tui.config import load_config


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_config_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "nord"\n[replay]\nmodel = "caf\xe9"\n')
    config, error = load_config(path)
    assert config.replay.model is None  # defaults, no traceback
    assert error is not None and str(path) in error
    assert "line 3" in error and "UTF-8" in error


def test_invalid_config_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[replay]\nconcurrency = "many"\n')
    _, error = load_config(path)
    assert error is not None
    assert "[replay] concurrency = 'many'" in error and "integer" in error
    assert "validation error for Config" not in error


def test_db_that_is_not_a_store_fails_with_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database\n")
    result = run_cli("--db", str(bogus))
    assert result.exit_code == 1
    assert f"--db {bogus} is not a reprise store" in result.output
    assert "Traceback" not in result.output
    folder = run_cli("--db", str(tmp_path), "open")
    assert folder.exit_code != 0 and "is a directory" in folder.output


def test_export_takes_the_replay_id_prefix_the_app_shows(tmp_path: Path) -> None:
    db = demo_store_copy(tmp_path)
    with Store(db) as store:
        replay = seed_demo_replay(store)
    shown = replay.id[:8]
    result = run_cli("--db", str(db), "export", shown, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["replay_id"] == replay.id
    missing = run_cli("--db", str(db), "export", "zzzzzzzz")
    assert missing.exit_code == 1 and "no replay 'zzzzzzzz'" in missing.output


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_refused_connection_names_the_url_and_the_reason(tmp_path: Path) -> None:
    from core.replay.engine import RetryPolicy, run_replay
    from core.replay.models import ReplaySpec
    from tui.screens.session import first_error

    db = demo_store_copy(tmp_path)
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with Store(db) as store:
        spec = ReplaySpec(session_id=DEBATE_SESSION, via=url, concurrency=2)
        replay = await run_replay(store, spec, retry=RetryPolicy(max_attempts=1))
        results = store.replay_results(replay.id)
        requests = store.session_requests(DEBATE_SESSION)
    assert replay.status == "failed"
    errors = {r.error for r in results.values() if r.status == "failed"}
    assert errors == {f"connection refused by {url}/chat/completions: nothing is listening"
                      " there; start the server or correct the target URL"}
    # Blocked requests name what they wait for by path, not by id.
    blocked = [r.error for r in results.values() if r.status == "blocked"]
    assert blocked and all("depends on turn-" in e for e in blocked)
    # The final status line of the app gives the reason, by path.
    from core.labels import request_labels

    reason = first_error(results.values(), request_labels(requests))
    assert "connection refused by" in reason and url in reason and reason.startswith("turn-")


def test_network_errors_say_what_and_where() -> None:
    import socket

    import httpx

    from core.replay.failures import describe_network_error

    url = "https://user:secret@api.example.test/v1?key=abc"
    dns = httpx.ConnectError("[Errno -2] Name or service not known")
    dns.__cause__ = socket.gaierror(-2, "Name or service not known")
    text = describe_network_error(dns, url)
    assert "cannot resolve the host api.example.test" in text
    assert "secret" not in text and "key=abc" not in text
    slow = describe_network_error(httpx.ReadTimeout("timed out"), url)
    assert slow.startswith("timed out waiting for the answer from https://api.example.test/v1")


def test_a_config_that_is_not_utf8_never_stops_the_first_paint(tmp_path: Path) -> None:
    from tui.app import peek_config

    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "n\xffrd"\n')
    assert peek_config(path) == {}  # load_config then says what is wrong


async def test_empty_store_hint_key_reaches_the_screen(tmp_path: Path, monkeypatch) -> None:
    from tui.app import RepriseApp
    from tui.config import Config

    monkeypatch.delenv("HELICONE_API_KEY", raising=False)
    app = RepriseApp(Store(tmp_path / "empty.db"), Config())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert "S (or ctrl+o)" in str(app.screen.query_one("#empty").render())
        await pilot.press("S")
        await pilot.pause()
        assert app.screen.query_one("#filter").value == ""  # not typed into the filter
        assert "HELICONE_API_KEY" in list(app._notifications)[-1].message

"""Errors a newcomer can cause: each is one message naming the file, field or id to fix."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from core.demo import demo_store_copy
from core.demo_replay import seed_demo_replay
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

"""config.toml mistakes are named, not silently ignored."""

from __future__ import annotations

from pathlib import Path

from tui.config import load_config


def test_misspelt_settings_and_unknown_targets_are_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n[replay]\ntarget = "bogus"\nconcurency = 3\n')
    config, problem = load_config(path)
    assert problem is not None
    assert "target = 'bogus'" in problem and "'base_url'" in problem
    assert "concurency = 3: unknown setting" in problem
    assert config.replay.target == "auto"


def test_the_documented_settings_load(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'theme = "nord"\n[keymap]\n"session.replay" = "r,ctrl+r"\n'
        '[replay]\ntarget = "base_url"\nbase_url = "http://127.0.0.1:8000/v1"\n'
        'api_key_env = "MY_ENDPOINT_KEY"\nmodel = ""\nconcurrency = 8\n'
        '[replay.tools]\ndefault = "error"\n'
        '[helicone]\nbase_url = ""\nregion = ""\nsince = "7d"\n')
    config, problem = load_config(path)
    assert problem is None and config.replay.target == "base_url"

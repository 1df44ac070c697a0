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


def test_a_bad_field_is_dropped_alone_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'theme = "nord"\nbogus = 1\n[keymap]\n"session.replay" = "r"\n'
        '[replay]\nconcurrency = "many"\nmodel = "m1"\n[replay.tools]\ndefault = 3\n'
        'shell = "error"\n[helicone]\nsince = "3d"\nregion = ["eu"]\n')
    config, problem = load_config(path)
    assert config.theme == "nord" and config.keymap == {"session.replay": "r"}
    assert config.replay.model == "m1" and config.replay.concurrency == 8
    assert config.replay.tools == {"shell": "error"} and config.helicone.since == "3d"
    assert problem is not None and problem.startswith(str(path))
    assert problem.count("\n") == 0 and "default settings" not in problem
    for named in ("bogus = 1: unknown setting", "[replay] concurrency = 'many'",
                  "[replay.tools] default = 3", "[helicone] region"):
        assert named in problem, problem


async def test_the_app_keeps_the_valid_settings_and_names_every_problem_once(
    tmp_path: Path,
) -> None:
    from tui.app import RepriseApp

    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n[keymap]\n"session.replay" = "r"\n"nope.nothing" = "x"\n'
                    '[replay]\nconcurency = 3\n')
    app = RepriseApp(str(tmp_path / "r.db"), config_path=path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert app.theme == "nord" and app.config is not None
        assert app.config.keymap["session.replay"] == "r"
        settings = [n.message for n in app._notifications if n.title == "settings"]
        assert len(settings) == 1, settings
        assert "[replay] concurency = 3: unknown setting" in settings[0]
        assert "nope.nothing" in settings[0]

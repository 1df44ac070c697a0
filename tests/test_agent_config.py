"""The replay form's tool rules saved in config.toml (`[replay.tools]`), the rest kept."""

from __future__ import annotations

from tui.config import load_config, save_replay_tools


def test_tool_rules_are_saved_and_read_back(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n\n[replay]\nbase_url = "http://127.0.0.1:8080/v1"\n'
                    '\n[replay.tools]\ndefault = "nearest"\nold_tool = "stop"\n'
                    '\n[helicone]\nsince = "30d"\n', encoding="utf-8")
    rules = {"default": "stub:none", "get_weather": "exec:reprise demo-tool",
             "odd name": 'stub:say "hi"'}
    assert save_replay_tools(rules, path) is None
    config, problem = load_config(path)
    assert problem is None
    assert config.replay.tools == rules  # the old table replaced, not merged
    assert config.theme == "nord" and config.helicone.since == "30d"
    assert config.replay.base_url == "http://127.0.0.1:8080/v1"
    assert save_replay_tools({"default": "error"}, path) is None
    assert load_config(path)[0].replay.tools == {"default": "error"}
    assert path.read_text(encoding="utf-8").count("[replay.tools]") == 1


def test_an_unwritable_config_is_reported_not_raised(tmp_path):
    folder = tmp_path / "config.toml"
    folder.mkdir()  # a directory where the file should be
    problem = save_replay_tools({"default": "stop"}, folder)
    assert problem is not None and str(folder) in problem

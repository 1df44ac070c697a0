"""The tool environment: rule parsing, the recorded matcher, and `exec` commands misbehaving."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.formats import ToolCall
from core.replay.environment import (
    Environment,
    RecordedCall,
    RecordedTools,
    RuleError,
    ToolSettings,
    parse_rule,
)
from core.replay.executors import run_exec, scrubbed_environ


def call(name: str = "search", args: str = '{"q": "x"}', id: str = "c1") -> ToolCall:
    return ToolCall(id=id, name=name, arguments=args)


@pytest.mark.parametrize("spec", ["", "bogus", "stub", "exec:", "mcp:   ", "error:x",
                                  "exec:'unclosed", "stub:@/nonexistent/file"])
def test_malformed_rules_are_refused(spec):
    with pytest.raises(RuleError):
        parse_rule(spec)


def test_rules_parse_and_unknown_tools_warn(tmp_path):
    stub = tmp_path / "r.txt"
    stub.write_text("file result")
    settings = ToolSettings.parse("nearest", [("search", "stub:hi"), ("fetch", f"stub:@{stub}"),
                                              ("serch", "exec:my-tool --flag 'a b'")])
    assert settings.rule_for("other").kind == "nearest"
    assert settings.rule_for("fetch").text == "file result"
    assert settings.rule_for("serch").argv == ["my-tool", "--flag", "a b"]
    warnings = settings.warnings({"search", "fetch"})
    assert len(warnings) == 1 and "'serch'" in warnings[0]


async def test_recorded_results_are_consumed_in_order_per_branch():
    recorded = RecordedTools([
        RecordedCall(call_id="a", name="now", arguments="{}", result="first"),
        RecordedCall(call_id="b", name="now", arguments="{}", result="second"),
        RecordedCall(call_id="c", name="search", arguments='{"q": "x"}', result="x!"),
    ])
    env = Environment(recorded, ToolSettings())
    got = [(await env.resolve("b1", call("now", "{}"))).content for _ in range(3)]
    assert got[:2] == ["first", "second"] and got[2].startswith("Error:")
    # Another branch starts from the first recorded result again.
    assert (await env.resolve("b2", call("now", " { } "))).content == "first"
    # Arguments compare as JSON: key order and spacing do not matter.
    found = await env.resolve("b1", call("search", '{ "q" : "x" }'))
    assert (found.source, found.content, found.recorded_call_id) == ("recorded", "x!", "c")
    nearest = Environment(recorded, ToolSettings.parse("nearest"))
    near = await nearest.resolve("b1", call("search", '{"q": "y"}'))
    assert (near.source, near.content) == ("nearest", "x!")


def script(tmp_path, body: str) -> list[str]:
    path = tmp_path / "tool.py"
    path.write_text(body)
    return [sys.executable, str(path)]


async def test_exec_failures_become_error_results(tmp_path):
    missing = await run_exec(["/nonexistent/tool"], call())
    assert missing == ("Error: tool command not found: /nonexistent/tool", True)
    crash = script(tmp_path, "import sys\nprint('partial')\nsys.stderr.write('one\\nboom\\n')\n"
                              "sys.exit(4)")
    text, is_error = await run_exec(crash, call())
    assert is_error and "exited with status 4: boom" in text
    hang = script(tmp_path, "import time\ntime.sleep(30)")
    text, is_error = await run_exec(hang, call(), timeout_s=0.5)
    assert is_error and "timed out after 0.5 s" in text
    binary = script(tmp_path, "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe bad')")
    text, is_error = await run_exec(binary, call())
    assert is_error and "not UTF-8" in text
    flood = script(tmp_path, "import sys\nchunk = b'x' * 65536\n"
                              "while True: sys.stdout.buffer.write(chunk)")
    text, is_error = await run_exec(flood, call(), timeout_s=20)
    assert is_error and "more than 1 MB" in text


def test_no_key_reaches_a_tool_command():
    env = scrubbed_environ({"PATH": "/bin", "OPENAI_API_KEY": "sk", "ANTHROPIC_API_KEY": "a",
                            "HELICONE_API_KEY": "h", "GITHUB_TOKEN": "g", "AWS_SECRET_ACCESS_KEY": "s",
                            "MY_PASSWORD": "p", "HOME": "/root", "KEY": "k"})
    assert env == {"PATH": "/bin", "HOME": "/root"}


async def test_mcp_server_failures_become_error_results():
    pytest.importorskip("mcp")
    import time

    from core.replay.executors import McpServer

    missing = McpServer(["/nonexistent/mcp-server"], timeout_s=5)
    text, is_error = await missing.call(call())
    assert is_error and "MCP server /nonexistent/mcp-server" in text
    await missing.aclose()
    server = Path(__file__).parent / "mcp_tool_server.py"
    dying = McpServer([sys.executable, str(server)], timeout_s=5)
    assert await dying.call(ToolCall(id="a", name="lookup", arguments='{"arg": "x"}')) == (
        "mcp lookup: x", False)
    text, is_error = await dying.call(ToolCall(id="b", name="crash", arguments='{"arg": "x"}'))
    assert is_error
    began = time.monotonic()
    text, is_error = await dying.call(ToolCall(id="c", name="lookup", arguments='{"arg": "y"}'))
    assert is_error and "MCP" in text
    assert time.monotonic() - began < 2  # a dead server answers at once, not at the timeout
    await dying.aclose()

"""`reprise` / `reprise open` (the terminal app) and `reprise demo` (the app on demo data)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from tui.launch import run_app


@click.command("open")
@click.argument("session", required=False)
@click.pass_context
def open_app(ctx: click.Context, session: str | None) -> None:
    """Open the terminal app (optionally straight on SESSION)."""
    db = (ctx.obj or {}).get("db")
    run_app(Path(db) if db else None, session)  # None: the default store, opened after paint


@click.command("demo")
def demo() -> None:
    """Open the terminal app on a fresh copy of the demo sessions."""
    try:
        from core.demo import demo_store_copy
    except ImportError:
        raise click.ClickException("the demo sessions are not available in this build") from None
    import tempfile

    # The copy (and anything written next to it) is removed when the app exits.
    with tempfile.TemporaryDirectory(prefix="reprise-demo-", ignore_cleanup_errors=True) as directory:
        remove_on_hangup(Path(directory))
        try:
            path = demo_store_copy(Path(directory))
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from None
        run_app(path, save_settings=False)


def remove_on_hangup(directory: Path) -> None:
    """Closing the terminal (SIGHUP) or a kill (SIGTERM) still removes the demo copy."""
    import shutil
    import signal

    def hangup(signum: int, _frame: object) -> None:
        shutil.rmtree(directory, ignore_errors=True)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # then end as the signal asks

    for signum in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, hangup)


@click.command("demo-tool", context_settings={"ignore_unknown_options": True})
@click.option("--mcp", "as_mcp", is_flag=True, help="Serve the tools as an MCP server on stdio.")
def demo_tool(as_mcp: bool) -> None:
    """The demo trip planner's tools: a call as JSON on stdin, its result on stdout.

    For agent replay rules: `--tool get_weather="exec:reprise demo-tool"` or
    `--tools-default "mcp:reprise demo-tool --mcp"`.
    """
    from core.demo_tools import run_exec, run_mcp

    raise SystemExit(run_mcp() if as_mcp else run_exec())

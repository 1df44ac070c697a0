"""The `reprise` click group: subcommands live in `tui.commands.*` and load lazily, so
that `reprise diff` or `reprise replay --json` never pays for importing Textual."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

# command name -> "module:attribute"; each module owns one command.
COMMANDS: dict[str, str] = {
    "sessions": "tui.commands.browse:sessions",
    "tree": "tui.commands.browse:tree",
    "show": "tui.commands.browse:show",
    "import": "tui.commands.importing:import_files",
    "demo": "tui.commands.app:demo",
    "demo-tool": "tui.commands.app:demo_tool",
    "open": "tui.commands.app:open_app",
    "diff": "tui.commands.diff:diff",
    "replay": "tui.commands.replay:replay",
    "replays": "tui.commands.replay:replays",
    "pull": "tui.commands.pull:pull",
    "serve-local": "tui.commands.local:serve_local",
    "record": "tui.commands.record:record",
    "score": "tui.commands.evals:score",
    "matrix": "tui.commands.evals:matrix",
    "export": "tui.commands.evals:export",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._available(name))

    @staticmethod
    def _available(name: str) -> bool:
        module = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not self._available(cmd_name):
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx: click.Context) -> object:
        """Store faults (locked, disk full, deleted, damaged) end a command in one line."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            store = sys.modules.get("core.store")  # no store fault without the store loaded
            if store is None or not isinstance(exc, store.StoreError | store.sqlite3.Error):
                raise
            from tui.commands.common import fail

            path = (ctx.obj or {}).get("db") or store.default_db_path()
            fail(store.describe_store_error(exc, path))


@click.group(cls=LazyGroup, invoke_without_command=True)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="REPRISE_DB",
    help="SQLite store to use (default: the platform data dir; env REPRISE_DB).",
)
@click.version_option(package_name="reprise-tui")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """reprise: replay recorded LLM sessions with modified prompts and diff the results."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    if ctx.invoked_subcommand is None:
        ctx.invoke(_open_app_command())


def _open_app_command() -> click.Command:
    module_name, attr = COMMANDS["open"].split(":")
    return getattr(importlib.import_module(module_name), attr)

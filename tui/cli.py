"""`reprise` command line.

Opening the app (`reprise`, `reprise --db PATH`) skips click: importing and running it costs
~10 ms beyond what Textual loads anyway, on the path the first frame waits for (a bare
Textual app shows its first frame in ~270 ms here). Every other command line goes to the
click group in `tui.commands.root`, whose commands load lazily.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def app_only(args: list[str]) -> tuple[bool, str | None]:
    """(True, the --db value) when the command line only opens the app; else (False, None)."""
    if not args:
        return True, os.environ.get("REPRISE_DB") or None
    if len(args) == 2 and args[0] == "--db" and args[1] and not args[1].startswith("-"):
        return True, args[1]
    if len(args) == 1 and args[0].startswith("--db=") and len(args[0]) > len("--db="):
        return True, args[0][len("--db="):]
    return False, None


def main() -> None:
    try:
        opens, db = app_only(sys.argv[1:])
        if opens:
            _open(db)
        else:
            from tui.commands.root import cli

            cli(obj={})
    except KeyboardInterrupt:
        sys.exit(130)


def _open(db: str | None) -> None:
    """The app, as `reprise open` runs it; store faults end in one line, as in every command."""
    from tui.launch import run_app

    try:
        run_app(Path(db) if db else None)
    except Exception as exc:
        store = sys.modules.get("core.store")  # no store fault without the store loaded
        if store is None or not isinstance(exc, store.StoreError | store.sqlite3.Error):
            raise
        from tui.commands.common import fail

        fail(store.describe_store_error(exc, db or store.default_db_path()))


def __getattr__(name: str) -> Any:
    """`tui.cli.cli` and the command table, as before they moved to `tui.commands.root`."""
    if name in ("cli", "COMMANDS", "LazyGroup"):
        from tui.commands import root

        return getattr(root, name)
    raise AttributeError(name)


if __name__ == "__main__":
    main()

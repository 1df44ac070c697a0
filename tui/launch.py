"""Starting the terminal app, without click: `reprise` with no command opens it this way
(`tui.cli`), and `reprise open` / `reprise demo` call the same function."""

from __future__ import annotations

import sys
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"


def check_store_path(db: Path) -> None:
    """Fail at once (one line, exit 1) when --db names something that is not a store."""
    problem = None
    if db.is_dir():
        problem = f"--db {db} is a directory; pass the store's file name"
    else:
        try:
            with db.open("rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except FileNotFoundError:
            return  # a new store is created there
        except OSError as exc:
            problem = f"cannot read --db {db}: {exc.strerror or exc}"
        else:
            if head and head != SQLITE_HEADER:
                problem = (f"--db {db} is not a reprise store (not an SQLite database); pass a"
                           " store file, or a new file name to start an empty one")
    if problem:
        print(f"reprise: {problem}", file=sys.stderr)
        sys.exit(1)


def run_app(db: Path | None, session: str | None = None, *, save_settings: bool = True) -> None:
    from platformdirs import user_config_path

    from tui.app import RepriseApp

    if db is not None:
        check_store_path(db)
    config = user_config_path("reprise", appauthor=False) / "config.toml"
    app = RepriseApp(db, config_path=config, start_session=session, save_settings=save_settings)
    app.run()
    if app.return_code:
        sys.exit(app.return_code)

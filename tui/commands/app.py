"""`reprise` / `reprise open` (the terminal app) and `reprise demo` (the app on demo data)."""

from __future__ import annotations

from pathlib import Path

import click


def _run(db: Path, session: str | None = None) -> None:
    from tui.app import RepriseApp
    from tui.config import load_config

    config, error = load_config()
    RepriseApp(db, config, config_error=error, start_session=session).run()


@click.command("open")
@click.argument("session", required=False)
@click.pass_context
def open_app(ctx: click.Context, session: str | None) -> None:
    """Open the terminal app (optionally straight on SESSION)."""
    from core.store import default_db_path

    db = (ctx.obj or {}).get("db")
    _run(Path(db) if db else default_db_path(), session)


@click.command("demo")
def demo() -> None:
    """Open the terminal app on a fresh copy of the demo sessions."""
    try:
        from core.demo import demo_store_copy
    except ImportError:
        raise click.ClickException("the demo sessions are not available in this build") from None
    _run(demo_store_copy())

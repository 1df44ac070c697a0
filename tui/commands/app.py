"""`reprise` / `reprise open` (the terminal app) and `reprise demo` (the app on demo data)."""

from __future__ import annotations

from pathlib import Path

import click


def _run(db: Path | None, session: str | None = None) -> None:
    from platformdirs import user_config_path

    from tui.app import RepriseApp

    config = user_config_path("reprise", appauthor=False) / "config.toml"
    RepriseApp(db, config_path=config, start_session=session).run()


@click.command("open")
@click.argument("session", required=False)
@click.pass_context
def open_app(ctx: click.Context, session: str | None) -> None:
    """Open the terminal app (optionally straight on SESSION)."""
    db = (ctx.obj or {}).get("db")
    _run(Path(db) if db else None, session)  # None: the default store, opened after paint


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
        try:
            path = demo_store_copy(Path(directory))
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from None
        _run(path)

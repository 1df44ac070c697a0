"""`reprise pull`: copy Helicone sessions into the local store, incrementally."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from core.sources.helicone import HeliconeConfig, PullReport
    from core.store import Store


@click.command("pull")
@click.option(
    "--since",
    default="7d",
    show_default=True,
    help="Time window: 7d, 24h, 30m, 2w, or a date such as 2025-01-01.",
)
@click.option(
    "--session",
    "session_ids",
    multiple=True,
    metavar="ID",
    help="Pull only this session (repeatable); skips the session listing.",
)
@click.option("--search", default="", help="Only sessions whose id or name contains TEXT.")
@click.option(
    "--sessionless",
    is_flag=True,
    help="Also pull the window's requests logged without a session id (each listed on its own).",
)
@click.option(
    "--region",
    type=click.Choice(["us", "eu"], case_sensitive=False),
    default=None,
    help="Helicone region (default: from the key; EU keys start with sk-helicone-eu-).",
)
@click.option(
    "--helicone-url",
    default=None,
    metavar="URL",
    help="Base URL of a self-hosted Helicone API (overrides --region).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 86_400),
    default=None,
    metavar="SECONDS",
    help="Give up on a Helicone call after SECONDS (default 30); a timed-out call is retried"
    " once, then reported.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"sessions", "requests", "bodies_fetched", "errors"} as JSON.',
)
@click.pass_context
def pull(
    ctx: click.Context,
    since: str,
    session_ids: tuple[str, ...],
    search: str,
    sessionless: bool,
    region: str | None,
    helicone_url: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Pull sessions from Helicone (key from HELICONE_API_KEY) into the local store."""
    from core.sources import helicone
    from tui.commands.common import fail, open_store

    try:
        since_at = helicone.parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    try:
        settings: dict[str, Any] = {"timeout_s": timeout} if timeout else {}
        config = helicone.HeliconeConfig.from_env(
            region=region, base_url=helicone_url, **settings
        )
    except helicone.HeliconeError as exc:
        if as_json:  # the documented shape, with the reason in `errors`
            _finish(helicone.PullReport(errors=[str(exc)]), as_json)
            return
        fail(str(exc))

    store = open_store(ctx)
    try:
        report = asyncio.run(
            _run(store, config, since_at, session_ids, search, as_json, sessionless)
        )
    except KeyboardInterrupt:
        click.echo("interrupted; sessions pulled so far are kept", err=True)
        sys.exit(130)
    finally:
        store.close()
    _finish(report, as_json)


async def _run(
    store: Store,
    config: HeliconeConfig,
    since: datetime,
    session_ids: Sequence[str],
    search: str,
    quiet: bool,
    sessionless: bool = False,
) -> PullReport:
    """Run the pull with a progress bar on stderr (none with --json)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from core.sources.helicone import HeliconeClient, PullProgress, pull

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]pulling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("sessions  {task.fields[requests]} requests  {task.fields[bodies]} bodies"),
    )
    with Progress(*columns, console=console, transient=True, disable=quiet) as bar:
        task = bar.add_task("pull", total=None, requests=0, bodies=0)

        def show(state: PullProgress) -> None:
            bar.update(
                task,
                completed=state.sessions_done,
                total=state.sessions_total if state.listing_done else None,
                requests=state.requests,
                bodies=state.bodies_fetched,
            )

        async with HeliconeClient(config) as client:
            return await pull(
                store,
                client,
                since=since,
                session_ids=session_ids,
                search=search,
                sessionless=sessionless,
                on_progress=show,
            )


def _finish(report: PullReport, as_json: bool) -> None:
    """Print the report; exit 1 when anything went wrong (what was pulled stays stored)."""
    from core.keys import redact
    from core.sources.helicone import report_json
    from tui.commands.common import say

    if as_json:
        click.echo(redact(report_json(report)))
    else:
        click.echo(
            f"pulled {report.sessions} sessions, {report.requests} requests"
            f" ({report.added} new, {report.updated} updated, {report.unchanged} unchanged"
            + (f", {report.sessionless} without a session" if report.sessionless else "")
            + "), "
            f"{report.bodies_fetched} bodies fetched"
        )
        for error in report.errors[:20]:
            say(f"error: {error}", err=True)
        if len(report.errors) > 20:
            click.echo(f"… and {len(report.errors) - 20} more errors", err=True)
    if report.errors:
        sys.exit(1)

"""`reprise import FILE…`: load exports and traces into the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tui.commands.common import open_store, print_json, say

if TYPE_CHECKING:
    from core.sources.importers import FileFormat

_FORMATS = ("helicone", "otel", "openinference", "langfuse")


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default=None,
    help="Read every file as this format (default: detected from each file's first record).",
)
@click.option("--json", "as_json", is_flag=True,
              help="Print {imported, updated, unchanged, skipped, errors}.")
@click.pass_context
def import_files(
    ctx: click.Context, files: tuple[Path, ...], fmt: FileFormat | None, as_json: bool
) -> None:
    """Import Helicone exports (JSON arrays, JSONL, API pages, signed bodies), OpenTelemetry
    GenAI / OpenInference traces (OTLP JSON, JSONL, Phoenix span downloads) and Langfuse
    observation exports; .gz too."""
    from core.sources.importers import import_paths

    with open_store(ctx) as store:
        counts = import_paths(store, list(files), fmt)  # click.Choice(_FORMATS) limits fmt
    if as_json:
        print_json(counts.model_dump())
    else:
        click.echo(
            f"imported {counts.imported}, updated {counts.updated},"
            f" unchanged {counts.unchanged}, skipped {counts.skipped}"
            f", errors {len(counts.errors)}"
        )
        for error in counts.errors:
            say(f"  {error}", err=True)
    if counts.errors:
        # 1: nothing could be imported; 2: good rows imported, some rows rejected.
        ctx.exit(2 if counts.imported or counts.updated or counts.unchanged else 1)

"""`reprise diff FILE_A FILE_B`: word diff of any two text files, without loading the TUI."""

from __future__ import annotations

import sys

import click

from core.diff import DiffResult, diff_texts
from core.text import dumps_json


def _read(path: str) -> str:
    """File content exactly as stored (``\\r\\n`` kept); errors become one-line messages."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as err:
        raise click.ClickException(
            f"{path}: not valid UTF-8 (byte {err.start}): reprise diff reads UTF-8 text"
        ) from err
    except OSError as err:
        raise click.ClickException(f"{path}: {err.strerror or err}") from err


def _summary(result: DiffResult) -> str:
    regions = result.changed_regions
    return (
        f"similarity {result.similarity:.1%} · +{result.added_words} −{result.removed_words} "
        f"words · {regions} changed region{'s' if regions != 1 else ''}"
    )


@click.command("diff")
@click.argument("file_a", type=click.Path(dir_okay=False))
@click.argument("file_b", type=click.Path(dir_okay=False))
@click.option("--side-by-side", "-s", is_flag=True, help="Two aligned columns: old | new.")
@click.option("--changes-only", "-c", is_flag=True, help="Only the changes, with context.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print similarity, word counts and ops as JSON."
)
def diff(file_a: str, file_b: str, side_by_side: bool, changes_only: bool, as_json: bool) -> None:
    """Word-level diff of FILE_A and FILE_B (any two UTF-8 text files)."""
    try:
        result = diff_texts(_read(file_a), _read(file_b))
    except click.ClickException as err:
        click.echo(f"reprise diff: {err.message}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(dumps_json(result.to_json_dict(), indent=None))
        return
    from rich.console import Console
    from rich.text import Text

    from core.render import render_changes_only, render_inline, render_side_by_side

    console = Console(highlight=False, emoji=False, markup=False)
    if side_by_side:
        width = console.width
        column = max(1, (width - 3) // 2)
        for left, right in render_side_by_side(result, width):
            row = left.copy()
            row.truncate(column, pad=True)
            row.append(" │ ", "dim")
            row.append_text(right)
            console.print(row, no_wrap=True, overflow="crop", crop=True)
    elif changes_only:
        console.print(render_changes_only(result))
    else:
        text = render_inline(result)
        console.print(text, end="" if text.plain.endswith("\n") else "\n")
    console.print(Text(_summary(result), style="dim"))

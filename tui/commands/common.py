"""Helpers shared by CLI commands: opening the store and failing with one clear line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from core.store import Store, StoreError, default_db_path
from core.text import dumps_json, literal


def store_path(ctx: click.Context) -> Path:
    obj = ctx.find_root().obj or {}
    configured = obj.get("db")
    return Path(configured).expanduser() if configured else default_db_path()


def open_store(ctx: click.Context) -> Store:
    """The store, closed when the command ends however it ends (return, fail, Ctrl-C)."""
    path = store_path(ctx)
    try:
        store = Store(path)
    except StoreError as exc:  # foreign, newer, damaged, locked: the message names the file
        fail(str(exc))
    except Exception as exc:  # anything else still ends in one line
        fail(f"cannot open store {path}: {exc}")
    ctx.call_on_close(store.close)
    return store


def resolve_replay(store: Store, value: str) -> str:
    """A replay id from the full id or the 8-character prefix the app shows; fails clearly."""
    if store.get_replay(value) is not None:
        return value
    matches = [r.id for r in store.list_replays() if r.id.startswith(value)] if value else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        fail(f"replay id {value!r} is ambiguous ({len(matches)} replays start with it:"
             f" {', '.join(m[:12] for m in matches[:3])}…); give more characters")
    fail(f"no replay {value!r} in {store.path}; `reprise replays` lists them")


def fail(message: str, code: int = 1) -> NoReturn:
    """Exit non-zero with a one-line message on stderr (never a traceback)."""
    click.echo(f"reprise: {literal(' '.join(message.split()))}", err=True)
    sys.exit(code)


def say(text: str, *, err: bool = False) -> None:
    """Print a line that may carry text from imported data or servers, control codes shown."""
    click.echo(literal(text), err=err)


def print_json(value: Any) -> None:
    click.echo(dumps_json(value))

"""Helpers shared by CLI commands: opening the store and failing with one clear line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from core.keys import redact
from core.store import Store, StoreError, default_db_path
from core.text import dumps_json, literal

if TYPE_CHECKING:
    from rich.progress import Task

    from core.replay.models import ReplayTarget
    from core.replay.waits import Waits

timeout_option = click.option(
    "--timeout", type=click.FloatRange(0.1, 86_400), default=None, metavar="SECONDS",
    help="Give up on a request after SECONDS per attempt (default 600; connect 10 s, silence"
         " 120 s). A timed-out request is retried once, then fails saying so.",
)


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


def resolve_session(store: Store, value: str) -> str:
    """A session id from the full id or a unique prefix (the app shows 14 characters)."""
    if store.get_session(value) is not None:
        return value
    return _unique_prefix("session", value, store.session_ids_starting(value) if value else [],
                          f"no session {value!r} in {store.path}; `reprise sessions` lists them")


def resolve_request(store: Store, value: str) -> str:
    """A request id from the full id or a unique prefix (`reprise tree` prints 8 characters)."""
    if store.get_request(value) is not None:
        return value
    sessions = store.session_ids_starting(value, limit=2) if value else []
    hint = (f"{value!r} is a session: `reprise tree {value}` lists its requests"
            if len(sessions) == 1 else "`reprise tree SESSION` lists a session's requests")
    return _unique_prefix("request", value, store.request_ids_starting(value) if value else [],
                          f"no request {value!r} in {store.path}; {hint}")


def check_prompt_ids(store: Store, session_ids: list[str], wanted: list[str], option: str) -> None:
    """Fail when `option` names a prompt id no request of the sessions has (a typo would
    replay or score nothing, or replay the sessions unchanged), listing those there are."""
    known: set[str] = set()
    for session_id in session_ids:
        known |= {r.prompt_id for r in store.session_requests(session_id) if r.prompt_id}
    for prompt_id in wanted:
        if prompt_id != "*" and prompt_id not in known:
            fail(f"{option} {prompt_id}: no request has that prompt id"
                 f" (prompt ids: {', '.join(sorted(known)) or 'none'})")


def _unique_prefix(kind: str, value: str, matches: list[str], missing: str) -> str:
    if len(matches) == 1:
        return matches[0]
    if matches:
        fail(f"{kind} id {value!r} is ambiguous (several start with it:"
             f" {', '.join(m[:12] for m in matches[:3])}…); give more characters")
    fail(missing)


def fail(message: str, code: int = 1) -> NoReturn:
    """Exit non-zero with a one-line message on stderr (never a traceback, never a key)."""
    click.echo(f"reprise: {literal(' '.join(redact(message).split()))}", err=True)
    sys.exit(code)


def say(text: str, *, err: bool = False) -> None:
    """Print a line that may carry text from imported data or servers, control codes shown
    and keys masked."""
    click.echo(literal(redact(text)), err=err)


def named_target(
    ctx: click.Context,
    stored: ReplayTarget,
    via: str | None,
    api_key_env: str | None,
    allow_hosts: tuple[str, ...],
    what: str,
) -> ReplayTarget:
    """The target for resuming `what`, from this command's flags only; fails with the flags
    to pass when the stored target is not built in and was not named again."""
    from click.core import ParameterSource

    from core.replay.transport import TargetRefused, resume_target

    named_via = via if ctx.get_parameter_source("via") == ParameterSource.COMMANDLINE else None
    try:
        return resume_target(stored, via=named_via, api_key_env=api_key_env,
                             allow_hosts=allow_hosts, what=what)
    except TargetRefused as exc:
        fail(str(exc))


def check_spec_target(target: ReplayTarget) -> None:
    """Fail in one line when the target's key could not be sent safely (or is malformed)."""
    import os

    from core.keys import KeyInvalid
    from core.replay.transport import TargetRefused, check_target

    try:
        check_target(target, os.environ)
    except (TargetRefused, KeyInvalid) as exc:
        fail(str(exc))


def print_json(value: Any) -> None:
    click.echo(dumps_json(value))



def wait_column(waits: Waits) -> Any:
    """A live progress column: what the replay waits for and for how long (`Waits`).

    Built on first use so commands that show no progress never import rich.progress."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class WaitColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(literal(waits.describe())[:70], style="dim")

    return WaitColumn()

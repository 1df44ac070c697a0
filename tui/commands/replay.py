"""`reprise replay` and `reprise replays`: run the replay engine from the command line."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from core.replay.models import FAILED, KEPT_ON_RESUME
from tui.commands.common import (
    check_spec_target,
    fail,
    named_target,
    open_store,
    print_json,
    resolve_replay,
    say,
    timeout_option,
    wait_column,
)


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            fail(f"{option} expects PROMPT_ID=VALUE, got {value!r}")
        pairs.append((key, text))
    return pairs


@click.command()
@click.argument("session_id", required=False)
@click.option("--system", "system", multiple=True, metavar="PROMPT_ID=TEXT",
              help="Replace the system prompt of requests with this prompt id ('*': all).")
@click.option("--append-system", multiple=True, metavar="PROMPT_ID=TEXT",
              help="Append TEXT to the system prompt of requests with this prompt id"
                   " ('*': every request).")
@click.option("--system-file", multiple=True, metavar="PROMPT_ID=PATH",
              help="Replace the system prompt with the contents of a file.")
@click.option("--model", default=None, help="Send every request to this model.")
@click.option("--temperature", type=float, default=None, help="Override the temperature.")
@click.option("--mode", type=click.Choice(["chained", "isolated"]), default="chained",
              show_default=True)
@click.option("--via", default="original", show_default=True,
              help="original, helicone, local (the bundled local model), or an"
                   " OpenAI-compatible base URL.")
@click.option("--api-key-env", default=None,
              help="Env var holding the key for a custom --via base URL.")
@click.option("--allow-host", multiple=True, help="Allow sending to this recorded host.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--resume", "resume_id", default=None, metavar="REPLAY_ID",
              help="Resume an interrupted replay: send only what is missing. Its target is"
                   " not reused: pass --via/--api-key-env/--allow-host again.")
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def replay(ctx: click.Context, session_id: str | None, system: tuple[str, ...],
           append_system: tuple[str, ...], system_file: tuple[str, ...], model: str | None,
           temperature: float | None, mode: str, via: str, api_key_env: str | None,
           allow_host: tuple[str, ...], concurrency: int, resume_id: str | None,
           timeout: float | None, as_json: bool) -> None:
    """Replay SESSION_ID with edited prompts and report what changed."""
    from core.edits import EditSet, ParamEdit, SystemEdit
    from core.replay.engine import Timeouts, run_replay
    from core.replay.models import ReplayEvent, ReplaySpec, ReplayTarget
    from core.replay.waits import Waits

    store = open_store(ctx)
    target: ReplayTarget | None = None
    if resume_id is not None:
        resume_id = resolve_replay(store, resume_id)
        stored = store.get_replay(resume_id)
        if stored is None:
            fail(f"no replay {resume_id!r} in {store.path}")
        spec = stored.spec
        if session_id and session_id != spec.session_id:
            fail(f"replay {resume_id} is of session {spec.session_id}, not {session_id}")
        target = named_target(ctx, spec.target(), via, api_key_env, allow_host,
                              f"replay {resume_id}")
        spec = spec.with_target(target)
    else:
        if not session_id:
            fail("give a SESSION_ID (or --resume REPLAY_ID)")
        if store.get_session(session_id) is None:
            fail(f"no session {session_id!r} in {store.path}; import or pull it first")
        edits = EditSet()
        for prompt, text in _pairs(system, "--system"):
            edits = edits.set_system(SystemEdit(target=prompt, text=text))
        for prompt, path in _pairs(system_file, "--system-file"):
            try:
                text = Path(path).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                fail(f"cannot read {path}: {exc}")
            edits = edits.set_system(SystemEdit(target=prompt, text=text))
        for prompt, text in _pairs(append_system, "--append-system"):
            edits = edits.model_copy(update={
                "system": [*edits.system, SystemEdit(target=prompt, text=text, mode="append")]})
        if temperature is not None:
            edits = edits.model_copy(update={
                "params": [*edits.params, ParamEdit(temperature=temperature)]})
        spec = ReplaySpec(session_id=session_id, edits=edits, mode=mode, via=via, model=model,
                          api_key_env=api_key_env, allow_hosts=list(allow_host),
                          concurrency=concurrency)
        if via not in ("original", "helicone", "local") and not via.startswith(
            ("http://", "https://")
        ):
            fail(f"--via must be original, helicone, local or an http(s) base URL, not {via!r}")
    if spec.api_key_env and not os.environ.get(spec.api_key_env):
        fail(f"--api-key-env {spec.api_key_env}: that variable is not set in the environment")
    check_spec_target(spec.target())

    total = len(store.session_requests(spec.session_id))
    waits = Waits()
    progress: Any = None
    task_id: Any = None
    if not as_json and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        progress = Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.description}"), wait_column(waits),
                            console=Console(stderr=True), transient=True)
        task_id = progress.add_task("", total=total)

    announced: list[str] = []

    def on_event(event: ReplayEvent) -> None:
        if not announced:
            announced.append(event.replay_id)
            if not as_json:
                say(f"replay {event.replay_id} of session {spec.session_id}", err=True)
        waits.feed(event)
        if progress is not None:
            if event.kind in ("finished", "failed", "skipped", "blocked"):
                progress.advance(task_id)
            if event.kind in ("retried", "failed"):
                progress.update(task_id, description=f"{event.request_id}: {event.message}"[:80])
        elif event.kind == "retried":  # no live line: say each wait as it starts
            say(f"{event.request_id}: {event.message}", err=True)

    started = time.perf_counter()
    if progress is not None:
        progress.start()
        if resume_id:
            done = sum(1 for r in store.replay_results(resume_id).values()
                       if r.status in KEPT_ON_RESUME)
            progress.advance(task_id, done)
    try:
        result = asyncio.run(run_replay(
            store, spec, on_event=on_event, resume_id=resume_id, target=target,
            timeouts=Timeouts.within(timeout) if timeout else None))
    except KeyboardInterrupt:
        if progress is not None:
            progress.stop()
        rid = announced[0] if announced else resume_id
        fail(f"cancelled; finished results are kept. Resume with: reprise replay --resume {rid}",
             130)
    except ValueError as exc:
        fail(str(exc))
    finally:
        if progress is not None:
            progress.stop()
    wall = time.perf_counter() - started

    from core.labels import request_labels

    results = store.replay_results(result.id)
    session_requests = store.session_requests(spec.session_id)
    names = request_labels(session_requests)  # requests by path, never by id
    order = [r.id for r in session_requests]
    rows = [results[rid] for rid in order if rid in results]
    failed = sum(1 for r in rows if r.status in FAILED)
    if as_json:
        print_json({
            "replay_id": result.id,
            "session_id": result.session_id,
            "mode": result.mode,
            "status": result.status,
            "requests": [
                {"request_id": r.request_id, "status": r.status, "depends_on": r.depends_on,
                 "diverged": r.diverged, "similarity": r.similarity, "error": r.error}
                for r in rows
            ],
            "failed": failed,
            "wall_seconds": round(wall, 3),
        })
    else:
        width = min(40, max((len(names.get(r.request_id, "")) for r in rows), default=12))
        for r in rows:
            sim = "" if r.similarity is None else f"{r.similarity:.2f}"
            deps = (f" after {', '.join(names.get(d, d[:8]) for d in r.depends_on)}"
                    if r.depends_on else "")
            note = r.error or r.diverged_reason or ""
            name = names.get(r.request_id, r.request_id[:12])
            say(f"{name:{width}} {r.status:9} {sim:>5}{deps} {note}".rstrip())
        click.echo(f"replay {result.id}: {result.status}, {len(rows)} requests, {failed} failed,"
                   f" {wall:.1f}s")
    if failed or result.status != "done":
        sys.exit(1)


@click.command()
@click.argument("session_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def replays(ctx: click.Context, session_id: str | None, as_json: bool) -> None:
    """List stored replays, newest first (of one session, or all)."""
    store = open_store(ctx)
    items = store.list_replays(session_id)
    if as_json:
        print_json([
            {"replay_id": r.id, "session_id": r.session_id, "status": r.status, "mode": r.mode,
             "created_at": r.created_at.isoformat(),
             "finished_at": r.finished_at.isoformat() if r.finished_at else None,
             "via": r.spec.via, "requests": r.total, "done": r.done, "failed": r.failed,
             "edits": r.spec.edits.model_dump()}
            for r in items
        ])
        return
    if not items:
        click.echo("no replays")
        return
    for r in items:
        say(f"{r.id}  {r.session_id}  {r.status:11} {r.mode:8} via {r.spec.via}"
                   f"  {r.done}/{r.total} done, {r.failed} failed"
                   f"  {r.created_at:%Y-%m-%d %H:%M}")

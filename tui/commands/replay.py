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
    resolve_session,
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
@click.option("--tools-default", default=None, metavar="RULE",
              help="Agent sessions: the rule for tool calls the recording never saw: error"
                   " (default), stub:TEXT, stub:@FILE, nearest, exec:COMMAND, mcp:COMMAND,"
                   " llm or stop.")
@click.option("--tool", "tool_rules", multiple=True, metavar="NAME=RULE",
              help="The rule for one tool (overrides --tools-default).")
@click.option("--max-extra-turns", type=click.IntRange(0, 1000), default=None,
              help="Rounds a replayed agent may take beyond the recording, per branch"
                   " (default 10).")
@click.option("--format", "undecided_format", default=None,
              type=click.Choice(["chat", "anthropic", "gemini", "responses"]),
              help="Imported requests whose format could not be decided (stored as OpenAI"
                   " chat) are sent in this one.")
@click.option("--resume", "resume_id", default=None, metavar="REPLAY_ID",
              help="Resume an interrupted or stopped replay: send only what is missing. Its"
                   " target is not reused: pass --via/--api-key-env/--allow-host again.")
@click.option("--tool-result", "tool_result", multiple=True, metavar="CALL_ID=TEXT|@FILE",
              help="With --resume: the result of a tool call the replay stopped for.")
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def replay(ctx: click.Context, session_id: str | None, system: tuple[str, ...],
           append_system: tuple[str, ...], system_file: tuple[str, ...], model: str | None,
           temperature: float | None, mode: str, via: str, api_key_env: str | None,
           allow_host: tuple[str, ...], concurrency: int, tools_default: str | None,
           tool_rules: tuple[str, ...], max_extra_turns: int | None, resume_id: str | None,
           tool_result: tuple[str, ...], undecided_format: str | None, timeout: float | None,
           as_json: bool) -> None:
    """Replay SESSION_ID with edited prompts and report what changed.

    Exit status: 0 done, 1 failed, 3 stopped for a tool result (answer it with --resume
    REPLAY_ID --tool-result CALL_ID=TEXT).
    """
    from core.edits import EditSet, ParamEdit, SystemEdit
    from core.replay.engine import Timeouts, run_replay
    from core.replay.models import ReplayEvent, ReplaySpec, ReplayTarget
    from core.replay.waits import Waits

    store = open_store(ctx)
    target: ReplayTarget | None = None
    supplied: dict[str, str] = {}
    if tool_result and resume_id is None:
        fail("--tool-result answers a stopped replay: give --resume REPLAY_ID as well")
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
        if tools_default or tool_rules or max_extra_turns is not None:
            fail("a resumed replay keeps its tool rules; start a new replay to change them")
        if undecided_format and undecided_format != spec.format:
            fail("a resumed replay keeps its --format; start a new replay to change it")
        supplied = _tool_results(store, resume_id, tool_result)
    else:
        if not session_id:
            fail("give a SESSION_ID (or --resume REPLAY_ID)")
        session_id = resolve_session(store, session_id)
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
        _check_edit_targets(store, session_id, edits)
        if temperature is not None:
            edits = edits.model_copy(update={
                "params": [*edits.params, ParamEdit(temperature=temperature)]})
        tools = _tool_settings(store, session_id, tools_default, tool_rules, max_extra_turns)
        spec = ReplaySpec(session_id=session_id, edits=edits, mode=mode, via=via, model=model,
                          api_key_env=api_key_env, allow_hosts=list(allow_host),
                          concurrency=concurrency, tools=tools, format=undecided_format)
        if undecided_format:
            _check_format(store, session_id, undecided_format, as_json)
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
            if event.kind in ("finished", "failed", "skipped", "blocked", "stopped") and (
                    "+" not in (event.request_id or "")):
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
                       if not r.extra and r.status in KEPT_ON_RESUME)
            progress.advance(task_id, done)
    try:
        result = asyncio.run(run_replay(
            store, spec, on_event=on_event, resume_id=resume_id, target=target,
            timeouts=Timeouts.within(timeout) if timeout else None, tool_results=supplied))
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
    from core.replay.agent import ordered_results, tool_counts

    results = store.replay_results(result.id)
    session_requests = store.session_requests(spec.session_id)
    names = request_labels(session_requests)  # requests by path, never by id
    order = [r.id for r in session_requests]
    rows = ordered_results(order, results)
    failed = sum(1 for r in rows if r.status in FAILED)
    counts = tool_counts(rows)
    if as_json:
        print_json({
            "replay_id": result.id,
            "session_id": result.session_id,
            "mode": result.mode,
            "status": result.status,
            "requests": [_json_row(r) for r in rows],
            "failed": failed,
            "tool_calls": {k: counts[k] for k in ("recorded", "rule", "user", "stopped")},
            "wall_seconds": round(wall, 3),
        })
    else:
        width = min(40, max((len(names.get(r.request_id, "")) for r in rows), default=12))
        for r in rows:
            sim = "" if r.similarity is None else f"{r.similarity:.2f}"
            deps = (f" after {', '.join(names.get(d, d[:8]) for d in r.depends_on)}"
                    if r.depends_on else "")
            note = r.error or r.diverged_reason or r.note or ""
            sources = ", ".join(f"{t.name}:{t.source}" for t in r.tool_results)
            if sources:
                note = f"[{sources}] {note}"
            name = (f"+ added after {names.get(r.after or '', r.after)}" if r.extra
                    else names.get(r.request_id, r.request_id[:12]))
            say(f"{name:{width}} {r.status:9} {sim:>5}{deps} {note}".rstrip())
            for call in r.pending_calls:
                say(f"    waits for {call.call_id}: {call.name}({call.arguments})")
        if any(counts.values()):
            click.echo(f"tool calls: {counts['recorded']} matched from recording,"
                       f" {counts['rule']} by rule ({counts['executed']} executed),"
                       f" {counts['user']} from you, {counts['stopped']} stopped")
        broken = [t for r in rows for t in r.tool_results
                  if t.is_error and t.source in ("exec", "mcp") and t.content]
        if broken:  # a mistyped command still "answers" (the model sees the error): say so
            say(f"warning: {len(broken)} tool command call{'s' if len(broken) != 1 else ''}"
                f" failed and the model got the error, e.g. {broken[0].name}:"
                f" {' '.join((broken[0].content or '').split())[:160]}", err=True)
        click.echo(f"replay {result.id}: {result.status}, {len(rows)} requests, {failed} failed,"
                   f" {wall:.1f}s")
        if result.status == "needs_tool_result":
            ids = " ".join(f"--tool-result {c.call_id}=..." for r in rows for c in r.pending_calls)
            # A target that is not built in is named again on resume (never reused).
            again = "" if spec.via in ("original", "helicone", "local") else f" --via {spec.via}"
            if spec.api_key_env:
                again += f" --api-key-env {spec.api_key_env}"
            click.echo(f"continue with: reprise replay --resume {result.id}{again} {ids}")
    if result.status == "needs_tool_result":
        sys.exit(3)
    if failed or result.status != "done":
        sys.exit(1)


def _check_edit_targets(store: Any, session_id: str, edits: Any) -> None:
    """A prompt id no request carries (a typo) would replay the session unchanged: refuse it
    before anything is sent, listing the prompt ids there are."""
    requests = store.session_requests(session_id)
    for edit in edits.system:
        if not any(edit.applies_to(r) for r in requests):
            known = sorted({r.prompt_id for r in requests if r.prompt_id})
            fail(f"no request of session {session_id[:8]} has prompt id {edit.target!r}"
                 f" (prompt ids: {', '.join(known) or 'none'}; '*' edits every request)")


def _check_format(store: Any, session_id: str, chosen: str, as_json: bool) -> None:
    """Refuse a --format the session's undecided requests cannot be sent in, before any call."""
    from core.sources.calls import FormatChoiceError, decide_formats, is_undecided

    requests = store.session_requests(session_id, bodies=True)
    try:
        decide_formats(requests, chosen)
    except FormatChoiceError as exc:
        fail(f"--format {chosen}: {exc}")
    if not as_json and not any(is_undecided(r) for r in requests):
        say(f"--format {chosen}: no request in this session has an undecided format;"
            " every request is sent in its own", err=True)


def _json_row(r: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": None if r.extra else r.request_id, "status": r.status,
        "depends_on": r.depends_on, "diverged": r.diverged, "similarity": r.similarity,
        "error": r.error,
        "tool_results": [{"call_id": t.call_id, "name": t.name, "source": t.source}
                         for t in r.tool_results],
    }
    if r.extra:
        row.update(id=r.request_id, extra=True, after=r.after)
    if r.status == "needs_tool_result":
        row["pending_calls"] = [{"call_id": t.call_id, "name": t.name, "arguments": t.arguments}
                                for t in r.pending_calls]
    return row


def _tool_settings(store: Any, session_id: str, default: str | None,
                   rules: tuple[str, ...], max_extra_turns: int | None) -> Any:
    """The rules the flags give, checked before anything is sent."""
    from core.replay.agent import session_tools
    from core.replay.environment import RuleError, ToolSettings

    pairs: dict[str, str] = {}
    for value in rules:
        name, sep, rule = value.partition("=")
        if not sep or not name.strip():
            fail(f"--tool expects NAME=RULE, got {value!r}")
        pairs[name.strip()] = rule
    try:
        settings = ToolSettings.parse(default, list(pairs.items()),
                                      10 if max_extra_turns is None else max_extra_turns)
    except RuleError as exc:
        fail(str(exc))
    offered = session_tools(store.session_requests(session_id, bodies=True))
    for warning in settings.warnings(offered):
        say(f"warning: {warning}", err=True)
    return settings


def _tool_results(store: Any, replay_id: str, values: tuple[str, ...]) -> dict[str, str]:
    """`CALL_ID=TEXT` / `CALL_ID=@FILE` for calls the stopped replay waits for."""
    pending = {c.call_id for r in store.replay_results(replay_id).values()
               for c in r.pending_calls}
    supplied: dict[str, str] = {}
    for value in values:
        call_id, sep, text = value.partition("=")
        if not sep or not call_id:
            fail(f"--tool-result expects CALL_ID=TEXT or CALL_ID=@FILE, got {value!r}")
        if call_id not in pending:
            waiting = ", ".join(sorted(pending)) or "none"
            fail(f"--tool-result {call_id}: replay {replay_id} does not wait for that call"
                 f" (waiting: {waiting})")
        if text.startswith("@"):
            try:
                text = Path(text[1:]).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"--tool-result {call_id}: cannot read {text[1:]}: {exc}")
        supplied[call_id] = text
    return supplied


@click.command()
@click.argument("session_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def replays(ctx: click.Context, session_id: str | None, as_json: bool) -> None:
    """List stored replays, newest first (of one session, or all)."""
    store = open_store(ctx)
    items = store.list_replays(resolve_session(store, session_id) if session_id else None)
    if as_json:
        print_json([
            {"replay_id": r.id, "session_id": r.session_id, "status": r.status, "mode": r.mode,
             "created_at": r.created_at, "finished_at": r.finished_at,
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

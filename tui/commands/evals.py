"""`reprise score`, `reprise matrix` and `reprise export`: evaluations from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.keys import redact
from core.text import literal
from tui.commands.common import (
    check_prompt_ids,
    check_spec_target,
    fail,
    named_target,
    open_store,
    print_json,
    resolve_replay,
    resolve_session,
    say,
    timeout_option,
)

if TYPE_CHECKING:
    from core.evals import ExtractScorer, JudgeScorer, ReplayScores
    from core.matrix import MatrixTable


def _judge_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--judge",
                "judges",
                multiple=True,
                metavar="PROMPT_ID=PATH",
                help="LLM-as-judge for a prompt id: a template file with {input} and"
                " {output} (or a JSON scorer definition).",
            ),
            click.option("--judge-model", default="gpt-4o-mini", show_default=True),
            click.option(
                "--judge-via",
                default="https://api.openai.com",
                show_default=True,
                help="OpenAI-compatible base URL the judge is sent to.",
            ),
            click.option(
                "--judge-key-env",
                default=None,
                help="Env var holding the judge's key (default: the provider's own).",
            ),
        ]
    ):
        func = option(func)
    return func


def _scorers(
    scores: tuple[str, ...],
    judges: tuple[str, ...],
    judge_model: str,
    judge_via: str,
    judge_key_env: str | None,
) -> list[ExtractScorer | JudgeScorer]:
    from pydantic import ValidationError

    from core.evals import JudgeScorer, parse_score_option

    scorers: list[ExtractScorer | JudgeScorer] = []
    for value in scores:
        try:
            scorers.append(parse_score_option(value))
        except ValueError as exc:  # ValidationError is a ValueError
            fail(f"--score: {_first_error(exc)}")
    for value in judges:
        prompt_id, sep, path = value.partition("=")
        if not sep or not prompt_id or not path:
            fail(f"--judge expects PROMPT_ID=PATH, got {value!r}")
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror or exc}")
        fields: dict[str, Any] = {
            "model": judge_model,
            "via": judge_via,
            "api_key_env": judge_key_env,
            "template": text,
        }
        if path.endswith(".json"):
            try:
                fields.update(json.loads(text))
            except ValueError as exc:
                fail(f"{path}: not JSON: {exc}")
        fields["prompt_id"] = prompt_id
        try:
            scorers.append(JudgeScorer(**fields))
        except ValidationError as exc:
            fail(f"--judge {path}: {_first_error(exc)}")
    return scorers


def _timeouts(seconds: float | None) -> Any:
    from core.replay.sending import Timeouts

    return Timeouts.within(seconds) if seconds else None


def _judge_keys(judge_via: str, judge_key_env: str | None) -> dict[str, str]:
    """The judge key binding named on this command line (stored ones are never used)."""
    if not judge_key_env:
        return {}
    from core.evals import JudgeScorer
    from core.keys import KeyInvalid
    from core.replay.transport import TargetRefused, credentials_for, join_base

    if not os.environ.get(judge_key_env):
        fail(f"--judge-key-env {judge_key_env}: that variable is not set in the environment")
    try:
        credentials_for(join_base(judge_via, "openai"), os.environ, custom_base=judge_via,
                        custom_key_env=judge_key_env)
    except (TargetRefused, KeyInvalid) as exc:
        fail(str(exc))
    return {JudgeScorer(prompt_id="-", via=judge_via).via: judge_key_env}


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first.get("msg", exc)).removeprefix("Value error, ")
    return str(exc)


def _n(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


# -- score -------------------------------------------------------------------------------------


@click.command()
@click.argument("replay_id")
@click.option(
    "--score",
    "scores",
    multiple=True,
    metavar="PROMPT_ID=REGEX",
    help="Pull a number out of each response of PROMPT_ID with a one-group regex.",
)
@_judge_options
@click.option(
    "--write-helicone",
    is_flag=True,
    help="Also write the replay scores to Helicone (replays sent --via helicone).",
)
@click.option(
    "--helicone-url",
    default=None,
    metavar="URL",
    help="Helicone API base URL (default: from the key's region).",
)
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def score(
    ctx: click.Context,
    replay_id: str,
    scores: tuple[str, ...],
    judges: tuple[str, ...],
    judge_model: str,
    judge_via: str,
    judge_key_env: str | None,
    write_helicone: bool,
    helicone_url: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Score REPLAY_ID against the recorded session: original, replay and delta per request.

    Scorers given here are kept with the replay; without any, the ones kept before are used.
    """
    from core.evals import attach_scorers, score_replay

    store = open_store(ctx)
    replay_id = resolve_replay(store, replay_id)
    scorers = _scorers(scores, judges, judge_model, judge_via, judge_key_env)
    if scorers:
        replay = store.get_replay(replay_id)
        if replay is not None:
            check_prompt_ids(store, [replay.session_id], [s.prompt_id for s in scorers],
                             "--score/--judge")
        attach_scorers(store, replay_id, scorers)
    result = asyncio.run(score_replay(store, replay_id, scorers or None,
                                      judge_keys=_judge_keys(judge_via, judge_key_env),
                                      timeouts=_timeouts(timeout)))
    written = _write_to_helicone(store, replay_id, result, helicone_url) if write_helicone else None
    if as_json:
        payload = result.to_json_dict()
        if written is not None:
            payload["helicone_writes"] = [w.model_dump() for w in written]
        print_json(payload)
        return
    _print_scores(result)
    if written is not None:
        ok = sum(1 for w in written if w.ok)
        click.echo(f"wrote scores for {ok} of {len(written)} replayed requests to Helicone")
        for write in written:
            if not write.ok:
                say(f"  {write.helicone_request_id}: {write.error}", err=True)


def _write_to_helicone(
    store: Any, replay_id: str, result: ReplayScores, helicone_url: str | None
) -> list[Any]:
    """POST the replay's scores to the Helicone requests its calls were logged as."""
    import os

    from core.evals import score_writes, write_scores_to_helicone
    from core.sources.helicone import REGION_URLS, resolve_region

    key = os.environ.get("HELICONE_API_KEY")
    if not key:
        fail("--write-helicone needs HELICONE_API_KEY in the environment")
    ids = {
        rid: r.helicone_id for rid, r in store.replay_results(replay_id).items() if r.helicone_id
    }
    if not ids:
        fail("this replay has no Helicone request ids: replay with --via helicone to log it there")
    api_url = helicone_url or REGION_URLS[resolve_region(key)]
    writes = score_writes(result, ids)
    return asyncio.run(write_scores_to_helicone(writes, api_key=key, api_url=api_url))


def _print_scores(result: ReplayScores) -> None:
    if not result.scorers:
        click.echo(
            "No scorers kept with this replay; pass --score PROMPT_ID=REGEX or --judge."
            " Helicone scores of the recorded requests are shown below."
        )
    header = f"{'request':<10} {'path':<28} {'scorer':<26} {'orig':>6} {'replay':>6} {'Δ':>6}"
    click.echo(header)
    for row in result.rows:
        helicone = " ".join(f"{k}={v:g}" for k, v in row.helicone.items())
        line = (
            f"{row.request_id[:8]:<10} {row.session_path[-28:]:<28}"
            f" {(row.scorer or '(helicone)')[:26]:<26} {_n(row.original, '.1f'):>6}"
            f" {_n(row.replay, '.1f'):>6} {_signed(row.delta):>6}"
        )
        extras = [x for x in (row.note, helicone and f"helicone {helicone}") if x]
        say(line + ("  " + "; ".join(extras) if extras else ""))
    s = result.summary
    click.echo(
        f"session: {_n(s.mean_original)} → {_n(s.mean_replay)} (Δ {_signed(s.mean_delta)},"
        f" min {_n(s.min_replay)}); {s.improved} improved, {s.worse} worse,"
        f" {s.unchanged} unchanged, {s.missing} without a score"
    )
    if result.judge_calls:
        click.echo(
            f"{result.judge_calls} judge call(s) sent; repeats come from the cache", err=True
        )


# -- matrix ------------------------------------------------------------------------------------


@click.command()
@click.argument("session_ids", nargs=-1)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="PROMPT_ID=TEXT",
    help="A variant of PROMPT_ID: '+ TEXT' appends to its system prompt,"
    " 'model:NAME' / 'temperature:X' change parameters, other text replaces it."
    " The original is always included.",
)
@click.option(
    "--variant-file",
    "variant_files",
    multiple=True,
    metavar="PROMPT_ID=PATH",
    help="A variant read from a file (same syntax), labelled by the file name.",
)
@click.option(
    "--score",
    "scores",
    multiple=True,
    metavar="PROMPT_ID=REGEX",
    help="Score responses of PROMPT_ID with a one-group regex.",
)
@_judge_options
@click.option(
    "--max-cells",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="Refuse matrices with more combinations than this.",
)
@click.option(
    "--mode", type=click.Choice(["chained", "isolated"]), default="chained", show_default=True
)
@click.option(
    "--via",
    default="original",
    show_default=True,
    help="original, helicone, local (the bundled local model), or an OpenAI-compatible base URL.",
)
@click.option(
    "--api-key-env", default=None, help="Env var holding the key for a custom --via base URL."
)
@click.option("--allow-host", multiple=True, help="Allow sending to this recorded host.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Requests in flight per replay.",
)
@click.option(
    "--parallel-cells",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Replays in flight at once.",
)
@click.option(
    "--sort",
    "sort_key",
    default="score",
    show_default=True,
    type=click.Choice(
        ["score", "score_delta", "similarity", "failed", "tokens", "cost", "latency_ms", "cell_key"]
    ),
)
@click.option("--dry-run", is_flag=True, help="Print the plan (cells, calls, cost) and stop.")
@click.option(
    "--resume",
    "resume_id",
    default=None,
    metavar="MATRIX_ID",
    help="Resume an interrupted matrix: finished cells are skipped. Its target is not"
    " reused: pass --via/--api-key-env/--allow-host again.",
)
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def matrix(
    ctx: click.Context,
    session_ids: tuple[str, ...],
    variants: tuple[str, ...],
    variant_files: tuple[str, ...],
    scores: tuple[str, ...],
    judges: tuple[str, ...],
    judge_model: str,
    judge_via: str,
    judge_key_env: str | None,
    max_cells: int,
    mode: str,
    via: str,
    api_key_env: str | None,
    allow_host: tuple[str, ...],
    concurrency: int,
    parallel_cells: int,
    sort_key: str,
    dry_run: bool,
    resume_id: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Replay SESSION_IDS under every combination of prompt variants and compare them."""
    from core.matrix import (
        MatrixSpec,
        MatrixTooLarge,
        create_matrix,
        get_matrix,
        matrix_table,
        parse_variant_option,
        plan_matrix,
        run_matrix,
        variant_from_file,
    )
    from core.replay.models import ReplayTarget

    store = open_store(ctx)
    target: ReplayTarget
    if resume_id is not None:
        stored = get_matrix(store, resume_id)
        if stored is None:
            fail(f"no matrix {resume_id!r} in {store.path}")
        spec = stored.spec
        target = named_target(ctx, spec.target(), via, api_key_env, allow_host,
                              f"matrix {resume_id}")
    else:
        if not session_ids:
            fail("give at least one SESSION_ID (or --resume MATRIX_ID)")
        session_ids = tuple(resolve_session(store, sid) for sid in session_ids)
        spec = MatrixSpec(
            session_ids=list(session_ids),
            max_cells=max_cells,
            parallel_cells=parallel_cells,
            mode=mode,
            via=via,
            api_key_env=api_key_env,
            allow_hosts=list(allow_host),
            concurrency=concurrency,
            scorers=_scorers(scores, judges, judge_model, judge_via, judge_key_env),
        )
        try:
            for value in variants:
                spec = spec.add_variant(parse_variant_option(value, spec.variants))
            for value in variant_files:
                prompt_id, sep, path = value.partition("=")
                if not sep or not prompt_id or not path:
                    fail(f"--variant-file expects PROMPT_ID=PATH, got {value!r}")
                spec = spec.add_variant(variant_from_file(prompt_id, Path(path).expanduser()))
        except ValueError as exc:
            fail(str(exc))
        check_prompt_ids(store, spec.session_ids, list(spec.variants), "--variant")
        check_prompt_ids(store, spec.session_ids, [s.prompt_id for s in spec.scorers], "--score")
        target = spec.target()
    if target.api_key_env and not os.environ.get(target.api_key_env):
        fail(f"--api-key-env {target.api_key_env}: that variable is not set in the environment")
    check_spec_target(target)
    judge_keys = _judge_keys(judge_via, judge_key_env)
    try:
        plan = plan_matrix(store, spec, env=os.environ)
    except (MatrixTooLarge, ValueError) as exc:
        fail(str(exc))
    if dry_run:
        if as_json:
            print_json(plan.model_dump(mode="json"))
        else:
            say(plan.describe())
            for key in plan.cell_keys:
                say(f"  {key}")
            if plan.refused:
                say(f"cannot start: {plan.refused}")
        return
    say(plan.describe(), err=True)
    if plan.refused:
        fail(f"cannot start: {plan.refused}")

    def progress(event: Any) -> None:
        inner = event.event
        if event.kind == "replay" and inner is not None and inner.kind == "retried":
            say(f"  {event.cell_key} [{event.session_id[:8]}] {inner.request_id}:"
                f" {inner.message}", err=True)
        if event.kind in ("cell_finished", "cell_failed"):
            say(
                f"  {event.kind.replace('_', ' ')}: {event.cell_key}"
                f" [{event.session_id[:8]}] {event.message}",
                err=True,
            )

    try:
        matrix_id = resume_id or create_matrix(store, spec).id
    except (MatrixTooLarge, ValueError) as exc:
        fail(str(exc))
    click.echo(f"matrix {matrix_id}", err=True)

    async def go() -> MatrixTable:
        await run_matrix(store, resume_id=matrix_id, on_event=progress, target=target,
                         timeouts=_timeouts(timeout))
        return await matrix_table(store, matrix_id, judge_keys=judge_keys,
                                  timeouts=_timeouts(timeout))

    try:
        table = asyncio.run(go())
    except ValueError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo(f"interrupted; resume with `reprise matrix --resume {matrix_id}`", err=True)
        sys.exit(130)
    if as_json:
        data = table.to_json_dict()
        data["cells"] = [row.json_cell() for row in table.sorted(sort_key)]
        print_json(data)
        return
    click.echo(f"matrix {matrix_id}; recorded score {_n(table.baseline_score)}")
    prompt_ids = table.prompt_ids
    widths = {p: min(max(len(p), 8), 30) for p in prompt_ids}
    head = " ".join(f"{p[: widths[p]]:<{widths[p]}}" for p in prompt_ids)
    say(
        f"{head} {'score':>6} {'Δ':>6} {'sim':>6} {'fail':>4} {'tokens':>7} {'cost':>10} {'ms':>7}"
    )
    for row in table.sorted(sort_key):
        labels = " ".join(
            f"{row.variants.get(p, '')[: widths[p]]:<{widths[p]}}" for p in prompt_ids
        )
        say(
            f"{labels} {_n(row.score):>6} {_signed(row.score_delta):>6}"
            f" {_n(row.similarity, '.0%') if row.similarity is not None else '–':>6}"
            f" {row.failed:>4} {row.tokens:>7} {_n(row.cost, '.6f'):>10}"
            f" {_n(row.latency_ms, '.0f'):>7}"
        )
    for pid in prompt_ids:
        for variant in spec.variants.get(pid, []):
            say(f"  {pid} {variant.label}: {variant.description}")


# -- export ------------------------------------------------------------------------------------


@click.command()
@click.argument("replay_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json"]),
    default=None,
    help="Default: from the -o file's extension, else md.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to FILE instead of standard output.",
)
@click.option(
    "--score",
    "scores",
    multiple=True,
    metavar="PROMPT_ID=REGEX",
    help="Score with these instead of the scorers kept with the replay.",
)
@click.pass_context
def export(
    ctx: click.Context, replay_id: str, fmt: str | None, output: str | None, scores: tuple[str, ...]
) -> None:
    """Export REPLAY_ID: per-request word diffs, scores, stats and the edits applied."""
    from core.evals import attached_scorers, score_replay
    from core.report import export_replay

    store = open_store(ctx)
    replay_id = resolve_replay(store, replay_id)
    if fmt is None:
        suffix = Path(output).suffix.lower().lstrip(".") if output else ""
        fmt = {"htm": "html", "html": "html", "json": "json"}.get(suffix, "md")
    scorers = _scorers(scores, (), "", "", None) or attached_scorers(store, replay_id)
    result = asyncio.run(score_replay(store, replay_id, scorers))
    text = redact(export_replay(store, replay_id, fmt, result))
    if output is None:
        # On a terminal, control codes from responses are shown, never acted on.
        click.echo(literal(text) if sys.stdout.isatty() else text, nl=False)
        return
    try:
        Path(output).expanduser().write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"wrote {output} ({fmt})", err=True)

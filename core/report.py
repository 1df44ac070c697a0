"""Replay reports: per-request word diffs, scores, stats and the edits applied, as JSON,
Markdown or one self-contained HTML file.

`build_report` gathers everything into plain data once; the renderers only format it. Every
piece of recorded or replayed text is untrusted (it can hold `<script>`, Markdown or Rich
markup), so the HTML escapes all of it and the Markdown puts it in code fences.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import fmean
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.diff import diff_texts
from core.edits import EditSet
from core.evals import ReplayScores, RequestScore
from core.formats import ToolCall, recorded_output
from core.matrix import estimate_call_cost
from core.replay.models import FAILED, SUCCEEDED, Replay, ReplayResult
from core.store import Store

ReportFormat = Literal["md", "html", "json"]
FORMATS: tuple[str, ...] = ("md", "html", "json")


class RequestReport(BaseModel):
    """One request of the session: recorded output, replayed output and their word diff."""

    request_id: str
    prompt_id: str | None = None
    session_path: str = "/"
    model: str = "unknown"
    sent_model: str | None = None
    status: str = "not replayed"
    error: str | None = None
    edited: bool = False
    original_text: str = ""
    replay_text: str = ""
    ops: list[tuple[str, str, str]] = Field(default_factory=list)
    similarity: float | None = None
    added_words: int = 0
    removed_words: int = 0
    original_tokens: int | None = None
    replay_tokens: int | None = None
    original_latency_ms: float | None = None
    replay_latency_ms: float | None = None
    scores: list[RequestScore] = Field(default_factory=list)
    helicone_scores: dict[str, float] = Field(default_factory=dict)


class ReportStats(BaseModel):
    requests: int = 0
    replayed: int = 0
    failed: int = 0
    skipped: int = 0
    diverged: int = 0
    changed: int = 0
    mean_similarity: float | None = None
    added_words: int = 0
    removed_words: int = 0
    original_tokens: int = 0
    replay_tokens: int = 0
    original_cost: float | None = None
    replay_cost: float | None = None  # estimated from tokens and the price table


class ReplayReport(BaseModel):
    replay_id: str
    session_id: str
    session_name: str = ""
    status: str
    mode: str
    via: str
    created_at: datetime
    finished_at: datetime | None = None
    generated_at: datetime
    edits: EditSet
    model_override: str | None = None
    stats: ReportStats
    scores: ReplayScores | None = None
    requests: list[RequestReport] = Field(default_factory=list)


def _tool_text(calls: list[ToolCall]) -> str:
    return "\n".join(f"{c.name}({c.arguments})" for c in calls)


def _with_tools(text: str, tools: str) -> str:
    return "\n".join(part for part in (text, tools) if part)


def build_report(store: Store, replay_id: str, scores: ReplayScores | None = None
                 ) -> ReplayReport:
    """Everything an export shows, for one stored replay."""
    replay: Replay | None = store.get_replay(replay_id)
    if replay is None:
        raise ValueError(f"no replay {replay_id!r} in the store")
    requests = store.session_requests(replay.session_id, bodies=True)
    results: dict[str, ReplayResult] = store.replay_results(replay_id)
    session = store.get_session(replay.session_id)
    by_request: dict[str, list[RequestScore]] = {}
    for row in scores.rows if scores else []:
        if row.scorer is not None:
            by_request.setdefault(row.request_id, []).append(row)
    stats = ReportStats(requests=len(requests))
    sims: list[float] = []
    original_cost = 0.0
    original_priced = False
    replay_cost = 0.0
    replay_priced = False
    items: list[RequestReport] = []
    for request in requests:
        result = results.get(request.id)
        recorded = recorded_output(request)
        original = _with_tools(recorded.text, _tool_text(recorded.tool_calls))
        item = RequestReport(
            request_id=request.id, prompt_id=request.prompt_id,
            session_path=request.session_path, model=request.model,
            edited=replay.spec.edits.touches(request), original_text=original,
            original_tokens=_tokens(request.prompt_tokens, request.completion_tokens),
            original_latency_ms=request.latency_ms, scores=by_request.get(request.id, []),
            helicone_scores=dict(request.scores))
        stats.original_tokens += item.original_tokens or 0
        if request.cost is not None:
            original_cost += request.cost
            original_priced = True
        if result is not None:
            item.status = result.status
            item.error = result.error or result.diverged_reason
            item.sent_model = (result.sent_body or {}).get("model")
            item.replay_tokens = _tokens(result.prompt_tokens, result.completion_tokens)
            item.replay_latency_ms = result.latency_ms
            stats.replay_tokens += item.replay_tokens or 0
            stats.skipped += result.status == "skipped"
            stats.failed += result.status in FAILED
            stats.diverged += result.status == "diverged"
            cost = estimate_call_cost(item.sent_model or request.model, result.prompt_tokens,
                                      result.completion_tokens)
            if cost is not None:
                replay_cost += cost
                replay_priced = True
            if result.status in SUCCEEDED:
                stats.replayed += 1
                item.replay_text = _with_tools(result.output_text, _tool_text(result.tool_calls))
                diff = diff_texts(item.original_text, item.replay_text)
                item.ops = [(op.tag, op.a_text, op.b_text) for op in diff.ops]
                item.similarity = diff.similarity
                item.added_words = diff.added_words
                item.removed_words = diff.removed_words
                sims.append(diff.similarity)
                stats.changed += diff.changed
                stats.added_words += diff.added_words
                stats.removed_words += diff.removed_words
        items.append(item)
    stats.mean_similarity = fmean(sims) if sims else None
    stats.original_cost = original_cost if original_priced else None
    stats.replay_cost = replay_cost if replay_priced else None
    return ReplayReport(
        replay_id=replay.id, session_id=replay.session_id,
        session_name=session.name if session else "", status=replay.status, mode=replay.mode,
        via=replay.spec.via, created_at=replay.created_at, finished_at=replay.finished_at,
        generated_at=datetime.now(UTC), edits=replay.spec.edits,
        model_override=replay.spec.model, stats=stats, scores=scores, requests=items)


def _tokens(prompt: int | None, completion: int | None) -> int | None:
    if prompt is None and completion is None:
        return None
    return (prompt or 0) + (completion or 0)


def render(report: ReplayReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def export_replay(store: Store, replay_id: str, fmt: str = "md",
                  scores: ReplayScores | None = None) -> str:
    """The export text of a replay in `fmt` (md, html or json)."""
    return render(build_report(store, replay_id, scores), fmt)


# -- JSON ---------------------------------------------------------------------------------------


def render_json(report: ReplayReport) -> str:
    data = report.model_dump(mode="json")
    if report.scores is not None:
        data["scores"] = report.scores.to_json_dict()
    for item, raw in zip(report.requests, data["requests"], strict=True):
        for score, raw_score in zip(item.scores, raw["scores"], strict=True):
            raw_score["delta"] = score.delta
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# -- shared formatting ----------------------------------------------------------------------------


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}".rstrip("0").rstrip(".")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "–" if value is None else f"${value:.6f}"


def _edit_lines(report: ReplayReport) -> list[tuple[str, str]]:
    """(title, text) per edit, in a form both renderers use."""
    lines: list[tuple[str, str]] = []
    for edit in report.edits.system:
        where = f"prompt {edit.target}" if edit.scope == "prompt" else f"request {edit.target}"
        verb = "append to" if edit.mode == "append" else "replace"
        lines.append((f"System prompt: {verb} ({where})", edit.text))
    for param in report.edits.params:
        where = "all requests" if param.scope == "all" else f"{param.scope} {param.target}"
        values = ", ".join(f"{k}={v}" for k, v in param.values().items())
        lines.append((f"Parameters ({where})", values))
    if report.model_override:
        lines.append(("Model for every request", report.model_override))
    return lines


def _stats_rows(report: ReplayReport) -> list[tuple[str, str]]:
    s = report.stats
    rows = [
        ("Requests", f"{s.requests} ({s.replayed} replayed, {s.failed} failed,"
                     f" {s.skipped} skipped, {s.diverged} diverged)"),
        ("Changed outputs", str(s.changed)),
        ("Mean similarity", _pct(s.mean_similarity)),
        ("Words", f"+{s.added_words} −{s.removed_words}"),
        ("Tokens", f"{s.original_tokens} recorded → {s.replay_tokens} replayed"),
        ("Cost", f"{_money(s.original_cost)} recorded → {_money(s.replay_cost)} replayed"
                 " (estimate)"),
    ]
    if report.scores is not None:
        m = report.scores.summary
        rows.append(("Session score", f"{_num(m.mean_original)} → {_num(m.mean_replay)}"
                                      f" (Δ {_signed(m.mean_delta)}; min {_num(m.min_replay)};"
                                      f" {m.improved} improved, {m.worse} worse,"
                                      f" {m.missing} without a score)"))
    return rows


# -- Markdown -------------------------------------------------------------------------------------


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _code(text: str) -> str:
    fence = _fence(text)
    return f"{fence}text\n{text}\n{fence}"


def _meta(item: RequestReport, esc: Callable[[str], str], *, code: Callable[[str], str],
          status: Callable[[str], str]) -> str:
    """A request's one-line summary (id, status, model, edit, similarity), with the escaping
    and markup of the report being written."""
    meta = [code(item.request_id), f"status {status(item.status)}", f"model {esc(item.model)}"]
    if item.sent_model and item.sent_model != item.model:
        meta.append(f"sent as {esc(item.sent_model)}")
    if item.edited:
        meta.append("edited")
    if item.similarity is not None:
        meta.append(f"similarity {esc(_pct(item.similarity))}, +{item.added_words}"
                    f" −{item.removed_words} words")
    return " · ".join(meta)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def _word_diff(ops: list[tuple[str, str, str]]) -> str:
    """git --word-diff style: [-removed-]{+added+}, readable in any Markdown viewer."""
    parts: list[str] = []
    for tag, a, b in ops:
        if tag == "equal":
            parts.append(a)
            continue
        if a:
            parts.append(f"[-{a}-]")
        if b:
            parts.append(f"{{+{b}+}}")
    return "".join(parts)


def render_markdown(report: ReplayReport) -> str:
    out: list[str] = [f"# Replay {_cell(report.replay_id)}", ""]
    out.append(f"Session **{_cell(report.session_name or report.session_id)}**"
               f" (`{_cell(report.session_id)}`), {report.mode} replay via"
               f" `{_cell(report.via)}`, status **{report.status}**.")
    out += ["", "## Edits", ""]
    edits = _edit_lines(report)
    if not edits:
        out.append("No edits: a plain re-run of the recorded session.")
    for title, text in edits:
        out += [f"- {_cell(title)}", "", _code(text), ""]
    out += ["", "## Summary", "", "| | |", "|---|---|"]
    out += [f"| {k} | {_cell(v)} |" for k, v in _stats_rows(report)]
    if report.scores is not None and report.scores.rows:
        out += ["", "## Scores", "",
                "| Request | Path | Scorer | Original | Replay | Δ | Helicone | Note |",
                "|---|---|---|---|---|---|---|---|"]
        for row in report.scores.rows:
            helicone = ", ".join(f"{k}={_num(v)}" for k, v in row.helicone.items())
            out.append(f"| `{_cell(row.request_id[:8])}` | {_cell(row.session_path)} |"
                       f" {_cell(row.scorer or '')} | {_num(row.original)} | {_num(row.replay)}"
                       f" | {_signed(row.delta)} | {_cell(helicone)} | {_cell(row.note or '')} |")
    out += ["", "## Requests", ""]
    for n, item in enumerate(report.requests, 1):
        title = f"{n}. {item.session_path} · {item.prompt_id or 'no prompt id'}"
        out += [f"### {_cell(title)}", ""]
        meta = _meta(item, _cell, code=lambda s: f"`{_cell(s)}`",
                     status=lambda s: f"**{_cell(s)}**")
        out += [meta, ""]
        for score in item.scores:
            out += [f"- {_cell(score.scorer or '')}: {_num(score.original)} →"
                    f" {_num(score.replay)} (Δ {_signed(score.delta)})", ""]
        if item.error:
            out += ["Error:", "", _code(item.error), ""]
        if item.ops:
            out += ["Word diff (`[-removed-]` `{+added+}`):", "", _code(_word_diff(item.ops)), ""]
        elif item.original_text:
            out += ["Recorded output:", "", _code(item.original_text), ""]
    out.append(f"_Generated by reprise on {report.generated_at:%Y-%m-%d %H:%M UTC}._")
    return "\n".join(out) + "\n"


# -- HTML -----------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light dark; --bg: #fff; --fg: #1f2328; --muted: #656d76;
  --line: #d0d7de; --del-bg: #ffebe9; --del-fg: #82071e; --ins-bg: #dafbe1; --ins-fg: #116329;
  --card: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0;
  --line: #30363d; --del-bg: #490202; --del-fg: #ffa198; --ins-bg: #04260f; --ins-fg: #7ee787;
  --card: #161b22; } }
body { background: var(--bg); color: var(--fg); margin: 2rem auto; max-width: 72rem;
  padding: 0 1rem; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin-bottom: .25rem; }
code, pre, .diff { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px; }
pre, .diff { white-space: pre-wrap; word-wrap: break-word; background: var(--card);
  border: 1px solid var(--line); border-radius: 6px; padding: .75rem; margin: .5rem 0; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left;
  vertical-align: top; }
.meta { color: var(--muted); }
del.del { background: var(--del-bg); color: var(--del-fg); text-decoration: line-through; }
ins.ins { background: var(--ins-bg); color: var(--ins-fg); text-decoration: none; }
.up { color: var(--ins-fg); } .down { color: var(--del-fg); }
.status-failed, .status-blocked { color: var(--del-fg); font-weight: 600; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _diff_html(ops: list[tuple[str, str, str]]) -> str:
    parts: list[str] = []
    for tag, a, b in ops:
        if tag == "equal":
            parts.append(f'<span class="eq">{_e(a)}</span>')
            continue
        if a:
            parts.append(f'<del class="del">{_e(a)}</del>')
        if b:
            parts.append(f'<ins class="ins">{_e(b)}</ins>')
    return '<div class="diff">' + "".join(parts) + "</div>"


def _delta_html(value: float | None) -> str:
    cls = "" if not value else (' class="up"' if value > 0 else ' class="down"')
    return f"<span{cls}>{_e(_signed(value))}</span>"


def render_html(report: ReplayReport) -> str:
    """One file, no scripts, no external resources: CSS inline, every text escaped."""
    title = f"reprise replay {report.replay_id}"
    out: list[str] = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>Replay <code>{_e(report.replay_id)}</code></h1>",
        f'<p class="meta">Session <strong>{_e(report.session_name or report.session_id)}'
        f"</strong> (<code>{_e(report.session_id)}</code>), {_e(report.mode)} replay via"
        f" <code>{_e(report.via)}</code>, status <strong>{_e(report.status)}</strong>.</p>",
        '<section id="edits"><h2>Edits</h2>',
    ]
    edits = _edit_lines(report)
    if not edits:
        out.append("<p>No edits: a plain re-run of the recorded session.</p>")
    for heading, text in edits:
        out.append(f'<div class="edit"><h3>{_e(heading)}</h3><pre>{_e(text)}</pre></div>')
    out.append("</section>")
    out.append('<section id="summary"><h2>Summary</h2><table class="stats">')
    out += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _stats_rows(report)]
    out.append("</table></section>")
    if report.scores is not None and report.scores.rows:
        out.append('<section id="scores"><h2>Scores</h2><table class="scores"><tr>'
                   "<th>Request</th><th>Path</th><th>Scorer</th><th>Original</th>"
                   "<th>Replay</th><th>Δ</th><th>Helicone</th><th>Note</th></tr>")
        for row in report.scores.rows:
            helicone = ", ".join(f"{k}={_num(v)}" for k, v in row.helicone.items())
            out.append(
                f"<tr><td><code>{_e(row.request_id[:8])}</code></td><td>{_e(row.session_path)}"
                f"</td><td>{_e(row.scorer or '')}</td><td>{_e(_num(row.original))}</td>"
                f"<td>{_e(_num(row.replay))}</td><td>{_delta_html(row.delta)}</td>"
                f"<td>{_e(helicone)}</td><td>{_e(row.note or '')}</td></tr>")
        out.append("</table></section>")
    out.append('<section id="requests"><h2>Requests</h2>')
    for n, item in enumerate(report.requests, 1):
        out.append(f'<article class="request" id="r-{_e(item.request_id)}">')
        out.append(f"<h3>{n}. {_e(item.session_path)} · {_e(item.prompt_id or 'no prompt id')}"
                   "</h3>")
        meta = _meta(item, _e, code=lambda s: f"<code>{_e(s)}</code>",
                     status=lambda s: f'<span class="status-{_e(s)}">{_e(s)}</span>')
        out.append(f'<p class="meta">{meta}</p>')
        if item.scores:
            out.append("<ul class=\"request-scores\">")
            out += [f"<li>{_e(s.scorer or '')}: {_e(_num(s.original))} → {_e(_num(s.replay))}"
                    f" ({_delta_html(s.delta)})</li>" for s in item.scores]
            out.append("</ul>")
        if item.error:
            out.append(f'<pre class="error">{_e(item.error)}</pre>')
        if item.ops:
            out.append(_diff_html(item.ops))
        elif item.original_text:
            out.append(f'<pre class="recorded">{_e(item.original_text)}</pre>')
        out.append("</article>")
    out.append("</section>")
    out.append(f'<footer class="meta">Generated by reprise on'
               f" {_e(f'{report.generated_at:%Y-%m-%d %H:%M UTC}')}.</footer>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"

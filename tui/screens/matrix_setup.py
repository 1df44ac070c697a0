"""Matrix setup: prompt variants and scorers per prompt id, the target, and the plan.

Variants are written one per line: plain text replaces the system prompt, `+ text` appends
to it, `model:NAME temperature:X` changes parameters; `\\n` inside a line is a line break. The
original prompt is always part of the matrix. The plan (cells, calls, estimated cost) is
recomputed in a worker a moment after typing stops and shown before anything is sent.

Each prompt id can be scored by a regex, by an LLM judge prompt, or both. The judge goes to the
matrix's own target (the local model, a base URL, …) unless another model name is typed.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from core.edits import EditSet
from core.evals import ExtractScorer, JudgeScorer
from core.formats import recorded_output
from core.matrix import (
    MatrixPlan,
    MatrixSpec,
    parse_variant_lines,
    plan_matrix,
    variant_lines,
)
from core.models import LoggedRequest
from core.targets import TargetOption, default_target
from core.text import literal
from tui.config import Config
from tui.navigation import Modal
from tui.screens.replay_form import (
    LOCAL_CONCURRENCY,
    NOTHING_FREE,
    base_targets,
    default_concurrency,
)
from tui.widgets.text import plural

if TYPE_CHECKING:
    from tui.app import RepriseApp

DEFAULT_SCORE = r"Score:\s*(\d+(?:\.\d+)?)"
JUDGE_PLACEHOLDER = "or a prompt with {output}"
JUDGE_DEFAULT_VIA = "https://api.openai.com"  # for targets that are not an endpoint
JUDGE_DEFAULT_MODEL = "gpt-4o-mini"
SYNTAX = (
    "One variant per line: text replaces the system prompt · `+ text` appends ·"
    " `model:NAME temperature:X` changes parameters · `\\n` is a line break."
    " The original prompt is always included."
)
# The same, in one line of the form (80 columns); F1 shows the rest.
SYNTAX_LINE = "text replaces the prompt · `+ text` appends · `model:X temperature:Y` · `\\n`"


def prompt_ids(requests: list[LoggedRequest]) -> list[str]:
    """The session's prompt ids in order of first use."""
    return list(dict.fromkeys(r.prompt_id for r in requests if r.prompt_id))


def pending_variants(edits: EditSet, prompt_id: str) -> list[str]:
    """The pending edits of a prompt id written as variant lines (`core.matrix`)."""
    return variant_lines(edits, prompt_id)


def default_scorer(requests: list[LoggedRequest], prompt_id: str) -> str:
    """`DEFAULT_SCORE` when the prompt id's recorded outputs carry a score, else empty."""
    pattern = re.compile(DEFAULT_SCORE)
    for request in requests:
        if request.prompt_id == prompt_id and pattern.search(recorded_output(request).text):
            return DEFAULT_SCORE
    return ""


PLAN_DELAY = 0.25  # seconds of quiet typing before the plan is recomputed


class MatrixChoice(BaseModel):
    """What the setup hands back: the matrix to run, where it goes, and its plan."""

    model_config = ConfigDict(frozen=True)

    spec: MatrixSpec
    local: bool
    label: str
    plan: MatrixPlan


class PlanReady(Message):
    """A plan computed in a worker for `spec` (or why that spec cannot run)."""

    def __init__(self, spec: MatrixSpec, plan: MatrixPlan | None, error: str | None,
                 start: bool) -> None:
        self.spec = spec
        self.plan = plan
        self.error = error
        self.start = start
        super().__init__()


class DefaultScorers(Message):
    """Score regexes suggested from the recorded outputs, read in a worker."""

    def __init__(self, patterns: dict[str, str]) -> None:
        self.patterns = patterns
        super().__init__()


class MatrixSetup(Modal[MatrixChoice | None]):
    if TYPE_CHECKING:  # Textual types `app` as App[Any]; this screen runs in RepriseApp
        app = getters.app(RepriseApp)

    HELP = f"""\
## Prompt-version matrix
Every combination of the variants below is replayed (one replay per cell) and scored.
{SYNTAX}
- **Score regex**: a number pulled out of each response of that prompt id (one group).
- **Judge prompt**: an LLM grades each response instead (or as well); `{{output}}` is the
  response, `{{input}}` the request's last user message, `{{system}}` its system prompt. It is
  sent to the target below (OpenAI for the original providers) with the request's model,
  unless a judge model is typed. The first number of the reply is the score.
- **ctrl+s**: start · **Escape**: cancel
"""

    # A short terminal gives the form its whole height (the prompt ids scroll in between);
    # a tall one sizes it to its content.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="matrix_setup.cancel",
                tooltip="Close without running"),
        Binding("ctrl+s,f2", "start", "Start matrix", priority=True, id="matrix_setup.start",
                tooltip="Run every combination of the variants"),
    ]

    def __init__(self, config: Config, session_id: str, requests: list[LoggedRequest],
                 edits: EditSet) -> None:
        super().__init__()
        self.config = config
        self.session_id = session_id
        self.requests = requests
        self.edits = edits
        self.prompt_ids = prompt_ids(requests)
        self.targets = base_targets(config)
        default = default_target(self.targets, config.replay.target)
        self._concurrency_default = default_concurrency(default, config)
        # Cells run side by side only where the target serves requests side by side.
        self._parallel_default = LOCAL_CONCURRENCY if default.local else 2
        self._plan_timer: Timer | None = None
        self.planned: tuple[MatrixSpec, MatrixPlan] | None = None
        self._plan_lines = 0

    def compose(self) -> ComposeResult:
        # Compact widgets (one row per field, no borders) so the whole form fits one 80×24
        # screen: the prompt ids scroll in the middle, target, plan and buttons stay in view.
        with Vertical(id="matrix-setup", classes="form"):
            yield Static(f"Prompt-version matrix · {plural(len(self.requests), 'request')}"
                         "  (F1: help)", classes="form-title")
            yield Static(SYNTAX_LINE, id="matrix-syntax", markup=False)
            with VerticalScroll(id="matrix-setup-body"):
                if not self.prompt_ids:
                    yield Static("This session has no prompt ids: only the original can run.",
                                 markup=False)
                for index, pid in enumerate(self.prompt_ids):
                    count = sum(1 for r in self.requests if r.prompt_id == pid)
                    yield Label(Text(f"{literal(pid)} · {plural(count, 'request')} · variants",
                                     style="bold"), classes="matrix-prompt")
                    yield TextArea("\n".join(pending_variants(self.edits, pid)),
                                   id=f"variants-{index}", classes="matrix-variants",
                                   soft_wrap=True, show_line_numbers=True, compact=True,
                                   placeholder="one variant per line")
                    with Horizontal(classes="matrix-scorers"):
                        yield Label("score ", classes="matrix-field")
                        yield Input("", id=f"score-{index}", compact=True,
                                    placeholder="regex with one group",
                                    classes="matrix-score")
                        yield Label(" judge ", classes="matrix-field")
                        yield Input("", id=f"judge-{index}", placeholder=JUDGE_PLACEHOLDER,
                                    compact=True, classes="matrix-judge")
                        yield Input("", id=f"judge-model-{index}", placeholder="judge model",
                                    compact=True, classes="matrix-judge-model")
            with Horizontal(id="matrix-numbers"):
                yield Label("Target ", classes="matrix-field")
                yield Select([(t.label, t.key) for t in self.targets],
                             value=self._default_key(), allow_blank=False, compact=True,
                             id="matrix-target")
                yield Label(" concurrency ", classes="matrix-field")
                yield Input(str(self._concurrency_default), type="integer", compact=True,
                            id="matrix-concurrency", classes="matrix-number")
                yield Label(" cells at once ", classes="matrix-field")
                yield Input(str(self._parallel_default), type="integer", compact=True,
                            id="matrix-parallel", classes="matrix-number")
            yield Static("", id="matrix-plan")
            with Horizontal(classes="form-buttons"):
                yield Button("Start matrix", variant="primary", id="start", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _default_key(self) -> str:
        return default_target(self.targets, self.config.replay.target).key

    def on_mount(self) -> None:
        self._update_plan()
        self.suggest_scorers()
        areas = self.query(".matrix-variants")
        if areas:
            areas.first().focus()

    @work(thread=True, group="matrix-scorers",
          description="loading scorers", exit_on_error=False)
    def suggest_scorers(self) -> None:
        with_bodies = self.app.loaded_store.session_requests(self.session_id, bodies=True)
        self.post_message(DefaultScorers(
            {pid: default_scorer(with_bodies, pid) for pid in self.prompt_ids}))

    def on_default_scorers(self, message: DefaultScorers) -> None:
        for index, pid in enumerate(self.prompt_ids):
            field = self.query_one(f"#score-{index}", Input)
            if not field.value and message.patterns.get(pid):
                field.value = message.patterns[pid]

    def on_text_area_changed(self) -> None:
        self._schedule_plan()

    def on_input_changed(self) -> None:
        self._schedule_plan()

    def on_select_changed(self) -> None:
        box = self.query_one("#matrix-concurrency", Input)
        new = default_concurrency(self._target(), self.config)
        if box.value.strip() == str(self._concurrency_default):
            box.value = str(new)
        self._concurrency_default = new
        cells = self.query_one("#matrix-parallel", Input)
        parallel = LOCAL_CONCURRENCY if self._target().local else 2
        if cells.value.strip() == str(self._parallel_default):
            cells.value = str(parallel)
        self._parallel_default = parallel
        self._schedule_plan()

    def _schedule_plan(self) -> None:
        """Debounce: plan once typing pauses, never per keystroke."""
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._plan_timer = self.set_timer(PLAN_DELAY, self._update_plan)

    def _target(self) -> TargetOption:
        key = self.query_one("#matrix-target", Select).value
        return next((t for t in self.targets if t.key == key), self.targets[-1])

    def _number(self, widget_id: str, default: int, low: int, high: int, what: str) -> int:
        raw = self.query_one(widget_id, Input).value.strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise ValueError(f"{what} must be between {low} and {high}")
        return value

    def _judge_target(self, prompt_id: str, model: str) -> dict[str, Any]:
        """Where a judge of this prompt id is sent: the matrix's target and model."""
        target = self._target()
        via = target.via
        if via == "local":
            return {"via": "local", "model": model or "local"}
        if not via.lower().startswith(("http://", "https://")):
            return {"via": JUDGE_DEFAULT_VIA, "model": model or JUDGE_DEFAULT_MODEL}
        if not model:
            recorded = Counter(r.model for r in self.requests
                               if r.prompt_id == prompt_id and r.model)
            model = self.config.replay.model or (
                recorded.most_common(1)[0][0] if recorded else JUDGE_DEFAULT_MODEL)
        return {"via": via, "model": model, "api_key_env": target.api_key_env}

    def _judge(self, index: int, prompt_id: str) -> JudgeScorer | None:
        template = self.query_one(f"#judge-{index}", Input).value.strip()
        if not template:
            return None
        if "{output}" not in template:
            raise ValueError(f"{prompt_id}: the judge prompt needs {{output}} (the response"
                             " to grade)")
        model = self.query_one(f"#judge-model-{index}", Input).value.strip()
        return JudgeScorer(prompt_id=prompt_id, template=template.replace("\\n", "\n"),
                           **self._judge_target(prompt_id, model))

    def build_spec(self) -> MatrixSpec:
        """The spec the form describes; ValueError with a readable message when invalid."""
        target = self._target()
        scorers: list[ExtractScorer | JudgeScorer] = []
        for index, pid in enumerate(self.prompt_ids):
            pattern = self.query_one(f"#score-{index}", Input).value.strip()
            if pattern:
                try:
                    scorers.append(ExtractScorer(prompt_id=pid, pattern=pattern))
                except ValueError as exc:
                    errors = getattr(exc, "errors", None)
                    detail = errors()[0]["msg"] if callable(errors) else str(exc)
                    raise ValueError(f"{pid}: {detail.removeprefix('Value error, ')}") from None
            judge = self._judge(index, pid)
            if judge is not None:
                scorers.append(judge)
        spec = MatrixSpec(
            session_ids=[self.session_id], scorers=scorers, via=target.via,
            model=None, api_key_env=target.api_key_env,
            allow_hosts=list(target.allow_hosts),
            concurrency=self._number("#matrix-concurrency", 8, 1, 64, "concurrency"),
            parallel_cells=self._number("#matrix-parallel", 2, 1, 16, "cells at once"),
        )
        for index, pid in enumerate(self.prompt_ids):
            area = self.query_one(f"#variants-{index}", TextArea)
            for variant in parse_variant_lines(pid, area.text):
                spec = spec.add_variant(variant)
        return spec

    def _update_plan(self, *, start: bool = False) -> None:
        """Read the form (cheap) and plan it in a worker (reads every request body)."""
        self._plan_timer = None
        try:
            spec = self.build_spec()
        except ValueError as exc:
            self._show_plan(None, None, str(exc))
            if start:
                self.notify(str(exc), title="matrix", severity="error")
            return
        if self.planned is not None and self.planned[0] == spec:
            self._show_plan(spec, self.planned[1], None)
            if start:
                self._start(spec, self.planned[1], None)
            return
        self.plan_in_background(spec, start)

    @work(thread=True, exclusive=True, group="matrix-plan",
          description="planning the matrix", exit_on_error=False)
    def plan_in_background(self, spec: MatrixSpec, start: bool) -> None:
        try:
            plan = plan_matrix(self.app.loaded_store, spec, env=os.environ)
        except ValueError as exc:
            self.post_message(PlanReady(spec, None, str(exc), start))
        else:
            self.post_message(PlanReady(spec, plan, None, start))

    def on_plan_ready(self, message: PlanReady) -> None:
        if message.plan is not None:
            self.planned = (message.spec, message.plan)
        self._show_plan(message.spec, message.plan, message.error)
        if message.start:
            self._start(message.spec, message.plan, message.error)

    def _show_plan(self, spec: MatrixSpec | None, plan: MatrixPlan | None,
                   error: str | None) -> None:
        target = self._target()
        note = Text(f"→ requests go to: {target.label}\n", style="")
        if plan is not None and plan.refused:
            # Where the general advice goes: this says what stops this target, in the lines
            # the form keeps for it (it fits 80×24).
            note.append("cannot start: " + literal(plan.refused) + "\n", style="bold red")
        elif not any(t.key in ("local", "base_url") for t in self.targets):
            note.append(NOTHING_FREE + "\n", style="yellow")
        if error is not None or spec is None or plan is None:
            note.append(literal(error or ""), style="bold red")
        else:
            judges = dict.fromkeys(f"{s.model} at {'the local model' if s.via == 'local' else s.via}"
                                   for s in spec.scorers if isinstance(s, JudgeScorer))
            if judges:
                note.append(f"judge: {literal(', '.join(judges))} (cached)\n")
            note.append("plan: " + plan.describe(), style="bold")
        # Only a change in the note's height needs a layout: re-laying out the form repaints
        # the session behind it too, ~40 ms per plan on the 520-request session.
        box = self.query_one("#matrix-plan", Static)
        lines = len(note.wrap(self.app.console, max(box.content_size.width, 1)))
        box.update(note, layout=lines != self._plan_lines)
        self._plan_lines = lines

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.action_cancel()

    def action_start(self) -> None:
        if self._plan_timer is not None:
            self._plan_timer.stop()
        self._update_plan(start=True)

    def _start(self, spec: MatrixSpec, plan: MatrixPlan | None, error: str | None) -> None:
        """Start only a plan that can run; otherwise say why (the plan note says it too)."""
        if plan is None or plan.refused:
            reason = plan.refused if plan is not None else error
            self.notify(reason or "cannot plan this matrix", title="matrix", severity="error")
            return
        target = self._target()
        self.dismiss(MatrixChoice(spec=spec, local=target.local,
                                  label=target.label, plan=plan))

    copy_what = "the plan"

    def copy_text(self) -> str:
        plan = self.query_one("#matrix-plan", Static).render()
        return getattr(plan, "plain", str(plan))

    def action_cancel(self) -> None:
        self.dismiss(None)

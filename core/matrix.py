"""Prompt-version matrix: replay sessions under every combination of prompt variants.

For each prompt id the user lists variants (a full system prompt, appended text, or a
model/temperature change). The original prompt is always an implicit variant labelled
"original", so the cartesian product includes the all-original cell (which measures how much
a plain re-run already drifts). Each cell is one replay per session. The matrix and its cells
are persisted (`matrices`, `matrix_cells`) the moment they are planned, so an interrupted
matrix resumes: finished cells are skipped and unfinished replays continue where they stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from statistics import fmean
from typing import Any, Literal
from uuid import uuid4

import httpx
from pydantic import BaseModel, Field, field_validator

from core.edits import EditSet, ParamEdit, SystemEdit
from core.evals import ExtractScorer, JudgeScorer, Scorer, score_replay
from core.keys import redact
from core.models import LoggedRequest
from core.replay.models import FAILED, ReplayEvent, ReplayMode, ReplaySpec, ReplayTarget
from core.replay.sending import Timeouts
from core.replay.transport import TargetRefused
from core.store import Store

ORIGINAL = "original"
DEFAULT_MAX_CELLS = 50

# Approximate list prices, USD per million tokens (input, output), by model family.
# Matched by longest prefix after dropping a "provider/" prefix; used only for estimates.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "o1-mini": (1.10, 4.40),
    "o1": (15.00, 60.00),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-haiku-4": (1.00, 5.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-opus": (15.00, 75.00),
    "claude-opus-4": (15.00, 75.00),
}

_PARAM_RE = re.compile(r"^(model|temperature|top_p|max_tokens):(\S+)$")



# -- variants ---------------------------------------------------------------------------------


class Variant(BaseModel):
    """One version of a prompt id: replace or append to its system prompt, or change params."""

    prompt_id: str
    label: str
    kind: Literal["original", "replace", "append", "params"] = "original"
    text: str | None = None
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None

    @property
    def description(self) -> str:
        """A one-line summary for tables: the first words or the parameter change."""
        if self.kind == "original":
            return "original prompt"
        if self.kind == "params":
            values = {k: getattr(self, k) for k in ("model", "temperature", "top_p",
                                                     "max_tokens")}
            return " ".join(f"{k}:{v}" for k, v in values.items() if v is not None)
        words = (self.text or "").split()
        head = " ".join(words[:6]) + (" …" if len(words) > 6 else "")
        return ("+ " if self.kind == "append" else "") + head

    def apply_to(self, edits: EditSet) -> EditSet:
        if self.kind in ("replace", "append"):
            edits = edits.set_system(SystemEdit(scope="prompt", target=self.prompt_id,
                                                text=self.text or "",
                                                mode="append" if self.kind == "append"
                                                else "replace"))
        elif self.kind == "params":
            param = ParamEdit(scope="prompt", target=self.prompt_id, model=self.model,
                              temperature=self.temperature, top_p=self.top_p,
                              max_tokens=self.max_tokens)
            edits = edits.model_copy(update={"params": [*edits.params, param]})
        return edits


def original_variant(prompt_id: str) -> Variant:
    return Variant(prompt_id=prompt_id, label=ORIGINAL)


def parse_variant(prompt_id: str, text: str, label: str) -> Variant:
    """Variant syntax: `+ TEXT` appends, `model:NAME` / `temperature:X` (space-separated,
    combinable) change parameters, anything else replaces the system prompt."""
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"variant for {prompt_id!r} is empty")
    tokens = stripped.split()
    if all(_PARAM_RE.match(t) for t in tokens):
        values: dict[str, Any] = {}
        for token in tokens:
            key, value = token.split(":", 1)
            try:
                values[key] = (value if key == "model" else
                               int(value) if key == "max_tokens" else float(value))
            except ValueError:
                raise ValueError(f"variant {token!r}: {value!r} is not a number") from None
        return Variant(prompt_id=prompt_id, label=label, kind="params", **values)
    if stripped.startswith("+"):
        rest = text.lstrip()[1:]
        if not rest.strip():
            raise ValueError(f"variant for {prompt_id!r} appends nothing")
        if not rest[0].isspace():
            rest = " " + rest
        return Variant(prompt_id=prompt_id, label=label, kind="append", text=rest.rstrip())
    return Variant(prompt_id=prompt_id, label=label, kind="replace", text=text.strip("\n"))


def variant_lines(edits: EditSet, prompt_id: str) -> list[str]:
    """A prompt id's pending edits written as variant lines (the matrix setup's text), so
    `parse_variant_lines` reads them back as the same edits: `+ ` for an append, `\\n` for
    a line break, `model:NAME temperature:X` for parameters."""
    lines: list[str] = []
    for edit in edits.system:
        if edit.scope == "prompt" and edit.target == prompt_id:
            text = edit.text.replace("\n", "\\n")
            lines.append("+ " + text.lstrip() if edit.mode == "append" else text)
    for param in edits.params:
        if param.scope == "prompt" and param.target == prompt_id:
            tokens = [f"{k}:{v}" for k, v in param.values().items()]
            if tokens:
                lines.append(" ".join(tokens))
    return lines


def parse_variant_lines(prompt_id: str, text: str) -> list[Variant]:
    """One variant per non-blank line, labelled v1, v2, …; `\\n` is a line break."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [parse_variant(prompt_id, line.replace("\\n", "\n"), f"v{number}")
            for number, line in enumerate(lines, 1)]


def parse_variant_option(value: str, existing: Mapping[str, list[Variant]]) -> Variant:
    """`PROMPT_ID=TEXT` from the command line; labels run v1, v2, … per prompt id."""
    prompt_id, sep, text = value.partition("=")
    if not sep or not prompt_id.strip():
        raise ValueError(f"expected PROMPT_ID=TEXT, got {value!r}")
    prompt_id = prompt_id.strip()
    return parse_variant(prompt_id, text, f"v{len(existing.get(prompt_id, [])) + 1}")


def variant_from_file(prompt_id: str, path: str | Path, label: str | None = None) -> Variant:
    """A variant whose text is a file (same syntax as inline); labelled by the file name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    return parse_variant(prompt_id, text, label or path.stem)


# -- spec and cells -----------------------------------------------------------------------------


class Cell(BaseModel):
    """One combination: a variant label per prompt id and the edits it makes."""

    key: str
    variants: dict[str, str]
    edits: EditSet = Field(default_factory=EditSet)

    @property
    def is_baseline(self) -> bool:
        return all(label == ORIGINAL for label in self.variants.values())


class MatrixTooLarge(ValueError):
    """More cells than the cap allows; nothing was started."""

    def __init__(self, cells: int, cap: int) -> None:
        super().__init__(f"the matrix has {cells} cells, more than the cap of {cap};"
                         " drop variants or raise --max-cells")
        self.cells = cells
        self.cap = cap


class MatrixSpec(BaseModel):
    """What a matrix runs; saved with it so it can be shown and resumed. Never holds keys."""

    session_ids: list[str]
    variants: dict[str, list[Variant]] = Field(default_factory=dict)  # "original" implicit
    scorers: list[Scorer] = Field(default_factory=list)
    max_cells: int = DEFAULT_MAX_CELLS
    parallel_cells: int = 2  # replays in flight at once; each has its own request limiter
    mode: ReplayMode = "chained"
    via: str = "original"
    model: str | None = None
    api_key_env: str | None = None
    allow_hosts: list[str] = Field(default_factory=list)
    concurrency: int = 8
    stream: bool | None = None

    @field_validator("session_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a matrix needs at least one session")
        return list(dict.fromkeys(value))

    def add_variant(self, variant: Variant) -> MatrixSpec:
        current = self.variants.get(variant.prompt_id, [])
        return self.model_copy(update={"variants": {**self.variants,
                                                     variant.prompt_id: [*current, variant]}})

    def cell_count(self) -> int:
        count = 1
        for variants in self.variants.values():
            count *= 1 + len([v for v in variants if v.kind != "original"])
        return count

    def cells(self) -> list[Cell]:
        """The cartesian product, the all-original cell first; MatrixTooLarge over the cap."""
        total = self.cell_count()
        if total > self.max_cells:
            raise MatrixTooLarge(total, self.max_cells)
        prompt_ids = sorted(self.variants)
        axes = [[original_variant(pid)] + [v for v in self.variants[pid] if v.kind != "original"]
                for pid in prompt_ids]
        cells: list[Cell] = []
        for combo in itertools.product(*axes):
            edits = EditSet()
            for variant in combo:
                edits = variant.apply_to(edits)
            labels = {v.prompt_id: v.label for v in combo}
            cells.append(Cell(key=cell_key(labels), variants=labels, edits=edits))
        keys = [c.key for c in cells]
        if len(set(keys)) != len(keys):
            raise ValueError("two variants of the same prompt id share a label")
        return cells

    def replay_spec(self, cell: Cell, session_id: str) -> ReplaySpec:
        return ReplaySpec(session_id=session_id, edits=cell.edits, mode=self.mode, via=self.via,
                          model=self.model, api_key_env=self.api_key_env,
                          allow_hosts=list(self.allow_hosts), concurrency=self.concurrency,
                          stream=self.stream)

    def target(self) -> ReplayTarget:
        return ReplayTarget(via=self.via, api_key_env=self.api_key_env,
                            allow_hosts=list(self.allow_hosts))

    def variant(self, prompt_id: str, label: str) -> Variant:
        if label == ORIGINAL:
            return original_variant(prompt_id)
        for variant in self.variants.get(prompt_id, []):
            if variant.label == label:
                return variant
        raise KeyError(f"{prompt_id}={label}")


def cell_key(labels: Mapping[str, str]) -> str:
    return "|".join(f"{pid}={labels[pid]}" for pid in sorted(labels)) or ORIGINAL


# -- plan and cost estimate -------------------------------------------------------------------


def price_for(model: str | None) -> tuple[float, float] | None:
    if not model:
        return None
    name = model.lower().rsplit("/", 1)[-1]
    best = max((p for p in PRICES if name.startswith(p)), key=len, default=None)
    return PRICES[best] if best else None


def estimate_call_cost(model: str | None, prompt_tokens: int | None,
                       completion_tokens: int | None, recorded_cost: float | None = None
                       ) -> float | None:
    """Tokens × the built-in price of the model family; the recorded cost when unpriced."""
    price = price_for(model)
    if price is None or (prompt_tokens is None and completion_tokens is None):
        return recorded_cost
    return ((prompt_tokens or 0) * price[0] + (completion_tokens or 0) * price[1]) / 1e6


class MatrixPlan(BaseModel):
    """What a matrix will do, shown before anything is sent."""

    cells: int
    sessions: int
    calls_per_cell: int
    calls: int
    estimated_cost: float
    unpriced_calls: int = 0  # calls with neither a known price nor a recorded cost
    cell_keys: list[str] = Field(default_factory=list)
    # Why no cell could start (a missing key, a refused target): refused once, up front,
    # instead of every cell failing the same way.
    refused: str | None = None

    def describe(self) -> str:
        text = (f"{self.cells} cell{'s' * (self.cells != 1)} × {self.sessions}"
                f" session{'s' * (self.sessions != 1)}: {self.calls} calls,"
                f" about ${self.estimated_cost:.4f}")
        if self.unpriced_calls:
            text += f" ({self.unpriced_calls} calls of unknown price not counted)"
        return text


def replayable_requests(store: Store, session_id: str) -> list[LoggedRequest]:
    from core.replay.plan import plan_replay

    requests = store.session_requests(session_id, bodies=True)
    if not requests:
        raise ValueError(f"session {session_id!r} has no stored requests")
    plan = plan_replay(requests, ReplaySpec(session_id=session_id, mode="isolated"))
    return [item.request for item in plan.items if item.skip_reason is None]


def plan_matrix(store: Store, spec: MatrixSpec,
                env: Mapping[str, str] | None = None) -> MatrixPlan:
    """Count cells and calls and estimate their cost from the recorded token counts; with
    `env`, also say whether the target would refuse the matrix (`refused`)."""
    cells = spec.cells()
    sessions = {sid: replayable_requests(store, sid) for sid in spec.session_ids}
    refused = None if env is None else matrix_refusal(spec, sessions, env)
    per_cell = sum(len(r) for r in sessions.values())
    cost = 0.0
    unpriced = 0
    for cell in cells:
        for requests in sessions.values():
            for request in requests:
                model = _cell_model(spec, cell, request)
                recorded = request.cost if model == request.model else None
                value = estimate_call_cost(model, request.prompt_tokens,
                                           request.completion_tokens, recorded)
                if value is None:
                    unpriced += 1
                else:
                    cost += value
    return MatrixPlan(cells=len(cells), sessions=len(sessions), calls_per_cell=per_cell,
                      calls=per_cell * len(cells), estimated_cost=cost, unpriced_calls=unpriced,
                      cell_keys=[c.key for c in cells], refused=refused)


def matrix_refusal(spec: MatrixSpec, sessions: dict[str, list[LoggedRequest]],
                   env: Mapping[str, str]) -> str | None:
    """What every cell's replay would refuse before sending, checked once per session: the
    cells differ only in prompts and parameters, never in where a request goes."""
    from core.keys import KeyInvalid
    from core.replay.engine import check_ready

    first = spec.cells()[0]
    for session_id, requests in sessions.items():
        try:
            check_ready(requests, spec.replay_spec(first, session_id), env)
        except TargetRefused as exc:
            return redact(exc.problem, env=env)
        except KeyInvalid as exc:
            return redact(str(exc), env=env)
    return None


def _cell_model(spec: MatrixSpec, cell: Cell, request: LoggedRequest) -> str:
    model = request.model
    for param in cell.edits.params:
        if param.applies_to(request) and param.model:
            model = param.model
    return spec.model or model


# -- persistence ------------------------------------------------------------------------------


CellStatus = Literal["pending", "running", "done", "failed"]
CELL_FINAL: frozenset[str] = frozenset({"done", "failed"})


def cell_status(run_statuses: set[str]) -> CellStatus:
    """A cell's status from its runs (one per session): any failure fails the cell."""
    if run_statuses and run_statuses <= {"done"}:
        return "done"
    if "failed" in run_statuses:
        return "failed"
    return "running" if "running" in run_statuses else "pending"


def cell_statuses(runs: list[MatrixCellRun]) -> dict[str, CellStatus]:
    """Each cell's status rolled up from its runs (one per session)."""
    statuses: dict[str, set[str]] = {}
    for run in runs:
        statuses.setdefault(run.cell_key, set()).add(run.status)
    return {key: cell_status(values) for key, values in statuses.items()}


class MatrixCellRun(BaseModel):
    cell_key: str
    session_id: str
    position: int = 0
    replay_id: str | None = None
    status: CellStatus = "pending"
    error: str | None = None


class Matrix(BaseModel):
    id: str
    spec: MatrixSpec
    created_at: datetime
    status: Literal["pending", "running", "done", "interrupted"] = "pending"
    runs: list[MatrixCellRun] = Field(default_factory=list)

    @property
    def finished(self) -> int:
        return sum(r.status in CELL_FINAL for r in self.runs)


def on_local_model(spec: MatrixSpec) -> bool:
    """Whether a matrix replays or judges on the local model (which lives in the app)."""
    return spec.via == "local" or any(
        isinstance(scorer, JudgeScorer) and scorer.via == "local" for scorer in spec.scorers)


def create_matrix(
    store: Store, spec: MatrixSpec, *, matrix_id: str | None = None,
    created_at: datetime | None = None,
) -> Matrix:
    """Persist the matrix and all of its cells (pending) before anything is sent."""
    cells = spec.cells()
    for sid in spec.session_ids:
        if store.get_session(sid) is None:
            raise ValueError(f"no session {sid!r} in the store")
    matrix_id = matrix_id or str(uuid4())
    store.create_matrix(matrix_id, spec.model_dump_json(), created_at or datetime.now(UTC),
                        [(cell.key, sid) for cell in cells for sid in spec.session_ids])
    loaded = get_matrix(store, matrix_id)
    assert loaded is not None
    return loaded


def get_matrix(store: Store, matrix_id: str) -> Matrix | None:
    found = store.get_matrix_rows(matrix_id)
    if found is None:
        return None
    row, runs = found
    return Matrix(id=row["id"], spec=MatrixSpec.model_validate_json(row["spec"]),
                  created_at=datetime.fromisoformat(row["created_at"]), status=row["status"],
                  runs=[MatrixCellRun(**dict(r)) for r in runs])


def list_matrices(store: Store) -> list[Matrix]:
    """Matrices newest first."""
    return [m for mid in store.matrix_ids() if (m := get_matrix(store, mid)) is not None]


def matrix_cell_replays(store: Store) -> dict[str, str]:
    """Replay id -> `matrix 1a2b3c4d · cell KEY` for every replay a matrix cell made."""
    cells: dict[str, str] = {}
    for matrix in list_matrices(store):
        for run in matrix.runs:
            if run.replay_id:
                labels = "/".join(part.partition("=")[2] or part
                                  for part in run.cell_key.split("|"))
                cells[run.replay_id] = f"matrix {matrix.id[:8]} cell {labels}"
    return cells


def set_cell_run(store: Store, matrix_id: str, run: MatrixCellRun, **values: Any) -> None:
    """Update one (cell, session) run: its replay, status or error."""
    for key, value in values.items():
        setattr(run, key, value)
    store.update_matrix_run(matrix_id, run.cell_key, run.session_id, run.replay_id, run.status,
                            run.error)


def _set_status(store: Store, matrix_id: str, status: str) -> None:
    store.set_matrix_status(matrix_id, status)


# -- running ------------------------------------------------------------------------------------


class MatrixEvent(BaseModel):
    """Progress of a matrix: cell starts and ends, with the replay engine's events inside."""

    kind: Literal["cell_started", "cell_finished", "cell_failed", "replay", "matrix_finished"]
    matrix_id: str
    cell_key: str | None = None
    session_id: str | None = None
    replay_id: str | None = None
    event: ReplayEvent | None = None
    message: str = ""


MatrixCallback = Callable[[MatrixEvent], None]


def _refuse(store: Store, spec: MatrixSpec, session_ids: list[str],
            env: Mapping[str, str] | None) -> None:
    """Raise TargetRefused before any cell starts when every cell would be refused alike."""
    import os

    env = os.environ if env is None else env
    sessions = {sid: store.session_requests(sid, bodies=True) for sid in session_ids}
    if (reason := matrix_refusal(spec, sessions, env)) is not None:
        raise TargetRefused(reason)


async def run_matrix(
    store: Store,
    spec: MatrixSpec | None = None,
    *,
    resume_id: str | None = None,
    on_event: MatrixCallback | None = None,
    target: ReplayTarget | None = None,
    client: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
    timeouts: Timeouts | None = None,
) -> Matrix:
    """Run a new matrix from `spec`, or resume `resume_id` (its stored spec wins, except
    where it sends: `target`, named by the person running it; a stored target that is not
    built in is refused without one, as for a resumed replay).

    Replays run `spec.parallel_cells` at a time on one shared HTTP client; a replay that
    fails as a whole marks its cell failed and the rest carry on.
    """
    import os

    from core.replay.engine import make_client, run_replay
    from core.replay.transport import resume_target

    if resume_id is not None:
        matrix = get_matrix(store, resume_id)
        if matrix is None:
            raise ValueError(f"no matrix {resume_id!r} in the store")
        if target is None:
            target = resume_target(matrix.spec.target(), what=f"matrix {resume_id}")
        for run in matrix.runs:
            replay = store.get_replay(run.replay_id) if run.replay_id else None
            if (replay is not None and replay.status == "running"
                    and replay.owner_pid not in (None, os.getpid())):
                raise ValueError(
                    f"matrix {resume_id} is still running in process {replay.owner_pid};"
                    " wait for it to finish or stop that process before resuming"
                )
    elif spec is not None:
        target = target or spec.target()
        _refuse(store, spec.model_copy(update=target.model_dump()), spec.session_ids, env)
        matrix = create_matrix(store, spec)
    else:
        raise ValueError("run_matrix needs a spec or a resume_id")
    spec = matrix.spec.model_copy(update=target.model_dump())
    if resume_id is not None:
        _refuse(store, spec, list(dict.fromkeys(
            r.session_id for r in matrix.runs if r.status not in CELL_FINAL)), env)
    cells = {c.key: c for c in spec.cells()}

    def emit(event: MatrixEvent) -> None:
        if on_event is not None:
            with contextlib.suppress(Exception):  # a broken listener never stops a matrix
                on_event(event)

    own = client is None
    http = client or make_client(spec.concurrency * max(1, spec.parallel_cells), timeouts)
    # Cells side by side against the local model would only queue there (one request at a time).
    sem = asyncio.Semaphore(1 if spec.via == "local" else max(1, spec.parallel_cells))

    async def one(run: MatrixCellRun) -> None:
        async with sem:
            cell = cells[run.cell_key]
            if run.replay_id is None:
                replay = store.create_replay(spec.replay_spec(cell, run.session_id))
                set_cell_run(store, matrix.id, run, replay_id=replay.id, status="running")
            else:
                set_cell_run(store, matrix.id, run, status="running")
            emit(MatrixEvent(kind="cell_started", matrix_id=matrix.id, cell_key=run.cell_key,
                             session_id=run.session_id, replay_id=run.replay_id))

            def forward(event: ReplayEvent) -> None:
                emit(MatrixEvent(kind="replay", matrix_id=matrix.id, cell_key=run.cell_key,
                                 session_id=run.session_id, replay_id=run.replay_id,
                                 event=event))

            try:
                replay = await run_replay(store, spec.replay_spec(cell, run.session_id),
                                          resume_id=run.replay_id, target=target,
                                          on_event=forward, client=http, env=env,
                                          timeouts=timeouts)
            except (ValueError, OSError, httpx.HTTPError) as exc:
                message = redact(str(exc), env=env)
                # A replay refused before it started (a missing key, say) is not left running.
                stale = store.get_replay(run.replay_id) if run.replay_id else None
                if stale is not None and stale.status == "running":
                    store.finish_replay(stale.id, "failed")
                set_cell_run(store, matrix.id, run, status="failed", error=message)
                emit(MatrixEvent(kind="cell_failed", matrix_id=matrix.id, cell_key=run.cell_key,
                                 session_id=run.session_id, replay_id=run.replay_id,
                                 message=message))
                return
            set_cell_run(store, matrix.id, run, status="done", error=None)
            emit(MatrixEvent(kind="cell_finished", matrix_id=matrix.id, cell_key=run.cell_key,
                             session_id=run.session_id, replay_id=run.replay_id,
                             message=replay.status))

    pending = [r for r in matrix.runs if r.status not in CELL_FINAL]
    _set_status(store, matrix.id, "running")
    try:
        await asyncio.gather(*(one(run) for run in pending))
    except BaseException:
        _set_status(store, matrix.id, "interrupted")
        raise
    finally:
        if own:
            await http.aclose()
    _set_status(store, matrix.id, "done")
    emit(MatrixEvent(kind="matrix_finished", matrix_id=matrix.id))
    final = get_matrix(store, matrix.id)
    assert final is not None
    return final


# -- results table ------------------------------------------------------------------------------


class MatrixRow(BaseModel):
    """One combination's results across its sessions."""

    cell_key: str
    variants: dict[str, str]
    descriptions: dict[str, str] = Field(default_factory=dict)
    replay_ids: list[str] = Field(default_factory=list)
    status: str = "pending"
    score: float | None = None  # mean replay score over the sessions' scored requests
    score_delta: float | None = None  # vs. the recorded session score
    improved: int = 0
    worse: int = 0
    similarity: float | None = None  # mean similarity of replayed outputs to the recorded
    requests: int = 0
    failed: int = 0
    tokens: int = 0
    cost: float | None = None
    latency_ms: float | None = None  # mean per request

    def json_cell(self) -> dict[str, Any]:
        """The `reprise matrix --json` cell shape."""
        return {"variants": self.variants, "replay_ids": self.replay_ids, "score": self.score,
                "similarity": self.similarity, "failed": self.failed, "cost": self.cost,
                "tokens": self.tokens, "latency_ms": self.latency_ms,
                "score_delta": self.score_delta, "status": self.status}


SORT_KEYS = ("score", "score_delta", "similarity", "failed", "tokens", "cost", "latency_ms",
             "cell_key")


class MatrixTable(BaseModel):
    matrix_id: str
    baseline_score: float | None = None  # the recorded sessions' score
    prompt_ids: list[str] = Field(default_factory=list)
    rows: list[MatrixRow] = Field(default_factory=list)

    def sorted(self, key: str = "score", *, descending: bool = True) -> list[MatrixRow]:
        """Rows ordered by a column; rows missing that value always come last."""
        if key not in SORT_KEYS:
            raise ValueError(f"cannot sort by {key!r}; choose one of {', '.join(SORT_KEYS)}")
        present = [r for r in self.rows if getattr(r, key) is not None]
        missing = [r for r in self.rows if getattr(r, key) is None]
        return sorted(present, key=lambda r: getattr(r, key), reverse=descending) + missing

    def to_json_dict(self) -> dict[str, Any]:
        return {"matrix_id": self.matrix_id, "baseline_score": self.baseline_score,
                "cells": [row.json_cell() for row in self.rows]}


async def matrix_table(
    store: Store,
    matrix_id: str,
    *,
    client: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
    judge_keys: Mapping[str, str] | None = None,
    timeouts: Timeouts | None = None,
) -> MatrixTable:
    """Score and summarize every cell (judge replies come from the cache when repeated).

    `judge_keys` maps a judge's base URL to the key variable the person running this named
    for it; the key variable stored with a judge is never used."""
    matrix = get_matrix(store, matrix_id)
    if matrix is None:
        raise ValueError(f"no matrix {matrix_id!r} in the store")
    spec = matrix.spec
    scorers: list[ExtractScorer | JudgeScorer] = list(spec.scorers)
    by_cell: dict[str, list[MatrixCellRun]] = {}
    for run in matrix.runs:
        by_cell.setdefault(run.cell_key, []).append(run)
    requests = {sid: {r.id: r for r in store.session_requests(sid)} for sid in spec.session_ids}
    baseline_values: list[float] = []
    baseline_done: set[str] = set()
    rows: list[MatrixRow] = []
    for cell in spec.cells():
        runs = by_cell.get(cell.key, [])
        row = MatrixRow(cell_key=cell.key, variants=cell.variants,
                        descriptions={pid: spec.variant(pid, label).description
                                      for pid, label in cell.variants.items()},
                        replay_ids=[r.replay_id for r in runs if r.replay_id])
        row.status = cell_status({r.status for r in runs})
        sims: list[float] = []
        latencies: list[float] = []
        replay_scores: list[float] = []
        cost = 0.0
        priced = False
        for run in runs:
            if run.replay_id is None:
                continue
            results = store.replay_results(run.replay_id)
            for result in results.values():
                if result.status in ("skipped", "cancelled"):
                    continue  # a cancelled request was in flight, not failed
                row.requests += 1
                if result.status in FAILED:
                    row.failed += 1
                if result.similarity is not None:
                    sims.append(result.similarity)
                if result.latency_ms is not None:
                    latencies.append(result.latency_ms)
                row.tokens += (result.prompt_tokens or 0) + (result.completion_tokens or 0)
                recorded = requests[run.session_id].get(result.request_id)
                model = (result.sent_body or {}).get("model") or (
                    recorded.model if recorded else None)
                value = estimate_call_cost(model, result.prompt_tokens, result.completion_tokens)
                if value is not None:
                    cost += value
                    priced = True
            if scorers:
                scores = await score_replay(store, run.replay_id, scorers, client=client,
                                            env=env, judge_keys=judge_keys,
                                            timeouts=timeouts)
                for score_row in scores.rows:
                    if score_row.scorer is None:
                        continue
                    if score_row.replay is not None:
                        replay_scores.append(score_row.replay)
                    if score_row.delta is not None:
                        row.improved += score_row.delta > 0
                        row.worse += score_row.delta < 0
                    if (run.session_id not in baseline_done
                            and score_row.original is not None):
                        baseline_values.append(score_row.original)
                baseline_done.add(run.session_id)
        row.similarity = fmean(sims) if sims else None
        row.latency_ms = fmean(latencies) if latencies else None
        row.cost = cost if priced else None
        row.score = fmean(replay_scores) if replay_scores else None
        rows.append(row)
    baseline = fmean(baseline_values) if baseline_values else None
    if baseline is None and scorers:
        from core.evals import recorded_session_score

        values = [v for sid in spec.session_ids if (v := recorded_session_score(
            store, sid, [s for s in scorers if isinstance(s, ExtractScorer)])) is not None]
        baseline = fmean(values) if values else None
    for row in rows:
        if row.score is not None and baseline is not None:
            row.score_delta = row.score - baseline
    return MatrixTable(matrix_id=matrix_id, baseline_score=baseline,
                       prompt_ids=sorted(spec.variants), rows=rows)

"""Matrix screen: live progress per cell, then the results table of a prompt-version matrix.

The matrix runs in a thread worker (on its own event loop) and only posts `MatrixProgress`
batches; the handlers update the progress bar and the rows. Results (scores, similarity,
cost, …) are recomputed by `core.matrix.matrix_table` in a second thread worker whenever a
cell finishes, so the table fills in while the matrix runs and the UI loop only draws.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from core.labels import describe_change
from core.matrix import (
    CELL_FINAL,
    SORT_KEYS,
    Cell,
    MatrixSpec,
    cell_statuses,
    get_matrix,
    list_matrices,
    plan_matrix,
)
from core.replay.waits import Waits
from core.text import literal
from tui import heap
from tui.navigation import Modal
from tui.screens.steady import SteadyLayout
from tui.widgets.badges import BADGE_CLASSES, state_badge, state_style
from tui.widgets.footer import Footer
from tui.widgets.text import money, plural, short
from tui.workers import EventBatcher, run_in_thread_loop

if TYPE_CHECKING:
    from core.matrix import Matrix, MatrixEvent, MatrixPlan, MatrixRow, MatrixTable
    from core.replay.models import ReplayTarget
    from tui.app import RepriseApp

COLUMNS = [
    ("status", "status"),
    ("score", "score"),
    ("score_delta", "Δ score"),
    ("similarity", "sim"),
    ("requests", "reqs"),
    ("failed", "fail"),
    ("tokens", "tokens"),
    ("cost", "cost"),
    ("latency_ms", "latency"),
]
HINT = "Enter: open the cell's diff · o/O: sort · Esc: back"
# Dropped below WIDE columns so the essential ones fit without scrolling sideways.
SECONDARY = {"requests", "tokens", "cost", "latency_ms"}
WIDE = 110


class MatrixProgress(Message):
    """Matrix events since the last batch, posted by the run worker's thread."""

    def __init__(self, events: list[MatrixEvent]) -> None:
        self.events = events
        super().__init__()


class MatrixCreated(Message):
    def __init__(self, matrix_id: str) -> None:
        self.matrix_id = matrix_id
        super().__init__()


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


class MatrixScreen(SteadyLayout, Screen[None]):
    if TYPE_CHECKING:  # Textual types `app` as App[Any]; this screen runs in RepriseApp
        app = getters.app(RepriseApp)

    COMPONENT_CLASSES = BADGE_CLASSES  # cell statuses coloured by the theme (app.tcss)
    copy_what = "the matrix results as JSON"
    AUTO_FOCUS = "#matrix-table"

    BINDINGS = [
        Binding("escape", "back", "Back", id="matrix.back",
                tooltip="Cancel a running matrix, else back"),
        Binding("o", "sort_next", "Sort", id="matrix.sort", tooltip="Sort by the next column"),
        Binding("O", "sort_reverse", "Reverse", id="matrix.reverse",
                tooltip="Reverse the sort order"),
        Binding("r", "resume", "Resume", id="matrix.resume",
                tooltip="Run the cells an interrupted matrix did not finish"),
        Binding("ctrl+c", "cancel", "Cancel", show=False, id="matrix.cancel",
                tooltip="Stop the running matrix; finished cells are kept"),
    ]

    HELP = """\
## Matrix
One row per combination of prompt variants (the all-original cell first): its status, mean
score and the change against the recorded sessions, mean similarity to the recorded
responses, requests, failures, tokens, estimated cost and mean latency.
- **Enter**: open the cell's replay in the diff screen
- **o**: sort by the next column · **O**: reverse · click a header to sort by it
- **Escape**: cancel a running matrix (finished cells are kept), else back
- **r**: resume an interrupted matrix
"""

    def __init__(self, *, matrix_id: str | None = None, spec: MatrixSpec | None = None,
                 local: bool = False, label: str = "", plan: MatrixPlan | None = None) -> None:
        super().__init__()
        self.matrix_id = matrix_id
        self.spec = spec
        self.local = local
        self.label = label
        self.plan = plan  # the setup form's plan: not read again here
        self._stop = threading.Event()
        # Judge URL -> key variable, as this person's config or setup form names them.
        self.judge_keys: dict[str, str] = {}
        self.cells: list[Cell] = []
        self.cell_status: dict[str, str] = {}
        self.cell_done: Counter[str] = Counter()
        self.calls_per_cell = 0
        self.table: MatrixTable | None = None
        self.sort_key = "cell_key"
        self.descending = False
        self.run_worker_: Worker[Any] | None = None
        self._matrix_status = ""
        self.originals: dict[str, str | None] = {}  # prompt id -> recorded system prompt
        self.waits = Waits()  # what the running cells wait for, shown after the counts

    def compose(self) -> ComposeResult:
        yield Static("", id="matrix-title", markup=False)
        with Horizontal(id="matrix-progress"):
            yield Static("", id="matrix-label", markup=False)
            yield ProgressBar(total=1, show_eta=False, id="matrix-bar")
            yield Static("", id="matrix-counts", markup=False)
        yield DataTable(id="matrix-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="matrix-variants")
        yield Static(HINT, id="matrix-hint", classes="status-line", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        store = self.app.loaded_store
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._render_rows())
        self.set_interval(1.0, self._tick_waits)
        if self.app.config is not None:
            self.judge_keys = self.app.config.key_bindings()
        if self.matrix_id is not None:
            matrix = get_matrix(store, self.matrix_id)
            if matrix is None:
                self.notify(f"no matrix {self.matrix_id}", severity="error")
                self.app.pop_screen()
                return
            self.spec = matrix.spec
            self._load_runs(matrix)
        assert self.spec is not None
        try:
            self.cells = self.spec.cells()
            plan = self.plan if self.plan is not None else plan_matrix(store, self.spec)
            self.calls_per_cell = plan.calls_per_cell
        except ValueError as exc:
            self.app.report_error("matrix", exc)
            self.cells = []
        self._columns()
        self._render_rows()
        self._title()
        if self.matrix_id is None:
            self.start()
        else:
            self.refresh_table()

    def _load_runs(self, matrix: Matrix) -> None:
        self.cell_status.update(cell_statuses(matrix.runs))
        self._matrix_status = matrix.status
        self.refresh_bindings()

    # -- layout ----------------------------------------------------------------------------
    def _title(self) -> None:
        assert self.spec is not None
        names = []
        for sid in self.spec.session_ids:
            summary = self.app.loaded_store.get_session(sid)
            names.append(literal(summary.name) if summary and summary.name else sid[:8])
        ident = f"matrix {self.matrix_id[:8]} · " if self.matrix_id else "matrix · "
        via = self.label or self.spec.via
        self.sub_title = ident.rstrip(" ·")
        self.query_one("#matrix-title", Static).update(
            f"{ident}{', '.join(names)} · {plural(len(self.cells), 'cell')}"
            f" × {plural(self.calls_per_cell, 'call')}"
            f" · → {literal(via)}"
        )
        self._progress()

    def _visible_columns(self) -> list[tuple[str, str]]:
        wide = self.app.size.width >= WIDE
        return [(key, label) for key, label in COLUMNS if wide or key not in SECONDARY]

    def on_resize(self) -> None:
        if self.spec is not None and self.is_mounted:
            self._columns()
            self._render_rows()

    def _columns(self) -> None:
        table = self.query_one("#matrix-table", DataTable)
        table.clear(columns=True)
        assert self.spec is not None
        width = 20 if self.app.size.width >= WIDE else 14
        for pid in sorted(self.spec.variants):
            table.add_column(short(literal(pid), width), key=f"pid:{pid}")
        for key, label in self._visible_columns():
            arrow = ""
            if key == self.sort_key:
                arrow = " ▼" if self.descending else " ▲"
            table.add_column(label + arrow, key=key)

    def _rows(self) -> list[tuple[Cell, MatrixRow | None]]:
        by_key = {row.cell_key: row for row in self.table.rows} if self.table else {}
        if self.table is not None and self.sort_key in SORT_KEYS:
            order = [r.cell_key for r in self.table.sorted(self.sort_key,
                                                            descending=self.descending)]
            cells = {c.key: c for c in self.cells}
            return [(cells[k], by_key.get(k)) for k in order if k in cells]
        return [(cell, by_key.get(cell.key)) for cell in self.cells]

    def _render_rows(self) -> None:
        table = self.query_one("#matrix-table", DataTable)
        current = self._current_key()
        table.clear()
        for cell, row in self._rows():
            table.add_row(*self._row_values(cell, row), key=cell.key)
        if current is not None:
            keys = [cell.key for cell, _ in self._rows()]
            if current in keys:
                table.move_cursor(row=keys.index(current))
        self._show_variants()

    def _status_text(self, cell: Cell, row: MatrixRow | None) -> Text:
        status = self.cell_status.get(cell.key) or (row.status if row else "pending")
        if status == "running" and self.calls_per_cell:
            return Text(f"▶ {self.cell_done[cell.key]}/{self.calls_per_cell}",
                        style=state_style(self, "running"))
        return state_badge(self, status, with_name=True)

    def _row_values(self, cell: Cell, row: MatrixRow | None) -> list[Any]:
        assert self.spec is not None
        values: list[Any] = []
        for pid in sorted(self.spec.variants):
            label = cell.variants.get(pid, "original")
            values.append(Text(literal(label), style="dim" if label == "original" else "bold"))
        values.append(self._status_text(cell, row))
        shown = [key for key, _ in self._visible_columns()][1:]
        if row is None:
            return values + ["–"] * len(shown)
        delta = row.score_delta
        metrics: dict[str, Any] = {
            "score": Text(_num(row.score), style="bold"),
            "score_delta": Text(_num(delta, "{:+.2f}"),
                                style=state_style(self, "done") if delta and delta > 0
                                else state_style(self, "error") if delta and delta < 0 else ""),
            "similarity": _num(row.similarity, "{:.0%}"),
            "requests": str(row.requests),
            "failed": Text(str(row.failed), style=state_style(self, "error") if row.failed else ""),
            "tokens": f"{row.tokens:,}",
            "cost": money(row.cost),
            "latency_ms": "–" if row.latency_ms is None else f"{row.latency_ms / 1000:.1f}s",
        }
        return values + [metrics[key] for key in shown]

    def _update_status_cell(self, cell_key: str) -> None:
        table = self.query_one("#matrix-table", DataTable)
        cell = next((c for c in self.cells if c.key == cell_key), None)
        if cell is None or cell_key not in table.rows:
            return
        row = next((r for r in self.table.rows if r.cell_key == cell_key), None) \
            if self.table else None
        table.update_cell(cell_key, "status", self._status_text(cell, row))

    def _progress(self) -> None:
        counts = Counter(self.cell_status.get(c.key, "pending") for c in self.cells)
        finished = sum(counts[s] for s in CELL_FINAL)
        self.query_one("#matrix-bar", ProgressBar).update(total=max(1, len(self.cells)),
                                                          progress=finished)
        parts = [f"{counts[s]} {s}" for s in ("running", "done", "failed", "pending")
                 if counts.get(s)]
        waiting = literal(self.waits.describe())
        self.query_one("#matrix-counts", Static).update(
            f"{finished}/{plural(len(self.cells), 'cell')}  " + " · ".join(parts)
            + (f"   {waiting}" if waiting else ""))
        running = self.run_worker_ is not None and self.run_worker_.is_running
        label = "running" if running else self._matrix_status or "starting"
        self.query_one("#matrix-label", Static).update(f"matrix {label}")

    def _tick_waits(self) -> None:
        if self.waits.describe():
            self._progress()

    def _current_key(self) -> str | None:
        table = self.query_one("#matrix-table", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def _show_variants(self) -> None:
        key = self._current_key()
        widget = self.query_one("#matrix-variants", Static)
        cell = next((c for c in self.cells if c.key == key), None)
        if cell is None or self.spec is None:
            widget.update("")
            return
        text = Text()
        for pid in sorted(cell.variants):
            label = cell.variants[pid]
            variant = self.spec.variant(pid, label)
            if text.plain:
                text.append("\n")
            text.append(f"{literal(pid)} ", style="bold cyan")
            text.append(f"{literal(label)}: ", style="bold")
            text.append(short(literal(self._describe(variant)), 90))
        widget.update(text)

    def _describe(self, variant: Any) -> str:
        """A variant by what it changes in the recorded prompt, not by its first words."""
        if variant.kind not in ("replace", "append") or variant.text is None:
            return variant.description
        if variant.kind == "append":
            return describe_change("", variant.text).replace("new prompt", "appends", 1)
        if variant.prompt_id not in self.originals:
            self.originals[variant.prompt_id] = self._original_prompt(variant.prompt_id)
        original = self.originals[variant.prompt_id]
        return variant.description if original is None else describe_change(original,
                                                                             variant.text)

    def _original_prompt(self, prompt_id: str) -> str | None:
        from core.formats import request_format

        store = self.app.loaded_store
        for session_id in self.spec.session_ids if self.spec else []:
            for request_id in store.requests_with_prompt(session_id, prompt_id)[:1]:
                request = self.app.request_or_none(request_id)
                if request is None or not isinstance(request.request_body, dict):
                    continue
                fmt = request_format(request)
                if fmt is not None:
                    return "\n".join(fmt.system_prompts(request.request_body))
        return None

    def _score_hint(self) -> None:
        """Say so when no score came out at all: a `–` alone does not tell why."""
        hint = self.query_one("#matrix-hint", Static)
        if self.table is None or self.spec is None or not self.spec.scorers:
            return
        finished = [row for row in self.table.rows if row.requests]
        if not finished or any(row.score is not None for row in self.table.rows):
            hint.update(HINT)
            return
        patterns = [getattr(s, "pattern", None) for s in self.spec.scorers]
        what = (f"the score regex “{next(p for p in patterns if p)}” never matched a response"
                if any(patterns) else "no scorer returned a number")
        hint.update(f"no scores: {what}; check it against a response (Enter opens the diff)"
                    " and start a new matrix with M")

    def on_data_table_row_highlighted(self) -> None:
        self._show_variants()

    # -- running ---------------------------------------------------------------------------
    def start(self, resume: bool = False, target: ReplayTarget | None = None) -> None:
        self.run_worker_ = self.run_matrix(resume, target)
        self._progress()

    @work(thread=True, exclusive=True, group="matrix",
          description="running the matrix", exit_on_error=False)
    def run_matrix(self, resume: bool, target: ReplayTarget | None = None) -> Matrix:
        """The matrix runs in a process of its own (`core.replay.child`), as replays do; on
        the local model, on a loop in this thread, next to the model the app keeps. Its
        events reach the UI in batches (one message per frame at most): the UI loop only
        draws."""
        from core.evals import judge_keys_of
        from core.matrix import create_matrix, on_local_model, run_matrix

        store = self.app.loaded_store
        spec: MatrixSpec | None
        if not resume:
            assert self.spec is not None
            spec = self.spec
            if self.local:
                # The engine starts (or reuses) the local model; "local" survives a resume.
                spec = spec.model_copy(update={"via": "local"})
            matrix = create_matrix(store, spec)
            self.post_message(MatrixCreated(matrix.id))
            matrix_id = matrix.id
            # Named in the setup form just now: this person's choice.
            target = spec.target()
            self.judge_keys = {**self.judge_keys, **judge_keys_of(spec.scorers)}
        else:
            assert self.matrix_id is not None
            matrix_id = self.matrix_id
            stored = get_matrix(store, matrix_id)  # its spec says where it runs
            spec = stored.spec if stored is not None else None

        self._stop.clear()
        batcher: EventBatcher[MatrixEvent] = EventBatcher(
            lambda events: self.post_message(MatrixProgress(events)))
        if spec is not None and not on_local_model(spec):
            from core.matrix_process import follow_matrix
            from core.replay.child import ReplayProcess, job_for_matrix

            worker = get_current_worker()
            job = job_for_matrix(store, matrix_id, target=target)
            with heap.paused():
                return follow_matrix(
                    ReplayProcess(), job, batcher.add,
                    lambda: self._stop.is_set() or worker.is_cancelled, batcher.flush)
        with heap.paused():
            return run_in_thread_loop(
                lambda: run_matrix(store, resume_id=matrix_id, on_event=batcher.add,
                                   target=target),
                self._stop, batcher)

    def on_matrix_created(self, message: MatrixCreated) -> None:
        self.matrix_id = message.matrix_id
        self._matrix_status = "running"
        self.refresh_bindings()
        self._title()

    def on_matrix_progress(self, message: MatrixProgress) -> None:
        changed: set[str] = set()
        finished = False
        for event in message.events:
            key = event.cell_key
            if event.kind == "cell_started" and key:
                self.cell_status[key] = "running"
                self.cell_done[key] = 0
            if event.kind == "replay" and event.event is not None:
                self.waits.feed(event.event)
            if event.kind == "replay" and key and event.event is not None:
                if event.event.result is not None and event.event.request_id:
                    self.cell_done[key] += 1
            elif event.kind == "cell_finished" and key:
                self.cell_status[key] = "done"
                finished = True
            elif event.kind == "cell_failed" and key:
                self.cell_status[key] = "failed"
                self.notify(f"cell {key} failed: {literal(event.message)[:120]}",
                            title="matrix", severity="error")
                finished = True
            if key:
                changed.add(key)
        for key in changed:
            self._update_status_cell(key)
        if finished:
            self.refresh_table()
        self._progress()

    @work(thread=True, exclusive=True, group="matrix-table",
          description="reading matrix results", exit_on_error=False)
    def refresh_table(self) -> MatrixTable:
        """Scores, similarity and costs of every cell, read and computed in this thread."""
        from core.matrix import matrix_table

        assert self.matrix_id is not None
        matrix_id, keys = self.matrix_id, dict(self.judge_keys)
        # Judges aimed at the local model start it on demand (core.evals).
        return run_in_thread_loop(
            lambda: matrix_table(self.app.loaded_store, matrix_id, judge_keys=keys),
            threading.Event())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "matrix-table":
            if event.state == WorkerState.SUCCESS:
                self.table = event.worker.result
                self._render_rows()
                self._score_hint()
            elif event.state == WorkerState.ERROR:
                self.app.report_error("matrix results", event.worker.error or RuntimeError())
            return
        if event.worker is not self.run_worker_:
            return
        if event.state == WorkerState.SUCCESS:
            matrix = cast("Matrix", event.worker.result)  # run_worker_ returns the Matrix
            self._load_runs(matrix)
            self.notify(f"matrix finished: {matrix.finished}/{plural(len(matrix.runs), 'cell')}",
                        title="matrix")
            self.refresh_table()
        elif event.state == WorkerState.CANCELLED:
            self._matrix_status = "interrupted"
            self.refresh_bindings()
            for key, status in list(self.cell_status.items()):
                if status == "running":
                    self.cell_status[key] = "pending"
                    self._update_status_cell(key)
            self.notify("matrix cancelled; finished cells are kept (r resumes)",
                        title="matrix", severity="warning")
            if self.matrix_id:
                self.refresh_table()
        elif event.state == WorkerState.ERROR:
            self._matrix_status = "interrupted"
            self.refresh_bindings()
            self.app.report_error("matrix failed", event.worker.error or RuntimeError())
        self._progress()

    # -- actions ---------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_cell(str(event.row_key.value))

    def open_cell(self, cell_key: str) -> None:
        from tui.screens.diff import DiffScreen

        row = next((r for r in self.table.rows if r.cell_key == cell_key), None) \
            if self.table else None
        replay = None
        if row is not None:
            replay = next((r for rid in row.replay_ids
                           if (r := self.app.loaded_store.get_replay(rid)) is not None), None)
        if replay is None or not replay.total:  # counted in the replay's own row
            self.notify("this cell has no replayed requests yet", severity="warning")
            return
        self.app.push_screen(DiffScreen(replay.session_id, replay.id, [], None))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key.startswith("pid:"):
            key = "cell_key"
        if key == "status" or key == "requests":
            self.notify(f"cannot sort by {key}", severity="warning")
            return
        self.set_sort(key)

    def set_sort(self, key: str, descending: bool | None = None) -> None:
        if descending is None:
            descending = not self.descending if key == self.sort_key else key in (
                "score", "score_delta", "similarity")
        self.sort_key, self.descending = key, descending
        if self.table is None:
            self.notify("results are not loaded yet", severity="warning")
        self._columns()
        self._render_rows()

    def action_sort_next(self) -> None:
        keys = list(SORT_KEYS)
        index = keys.index(self.sort_key) if self.sort_key in keys else -1
        self.set_sort(keys[(index + 1) % len(keys)])

    def action_sort_reverse(self) -> None:
        self.set_sort(self.sort_key, not self.descending)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Resume is offered (not greyed out) only for a matrix that stopped early."""
        if action == "resume":
            return True if self._matrix_status in ("interrupted", "failed", "cancelled") else None
        return True

    def action_resume(self) -> None:
        if self.run_worker_ is not None and self.run_worker_.is_running:
            self.notify("the matrix is running", severity="warning")
            return
        if self.matrix_id is None:
            return
        matrix = get_matrix(self.app.loaded_store, self.matrix_id)
        if matrix is None or all(r.status in CELL_FINAL for r in matrix.runs):
            self.notify("nothing left to run in this matrix")
            return
        from core.replay.transport import TargetRefused, describe_target

        stored = matrix.spec.target()
        try:
            target = self.app.loaded_config.resume_target(stored, f"matrix {self.matrix_id}")
        except TargetRefused:
            from tui.screens.confirm import ConfirmScreen

            def answered(yes: bool | None) -> None:
                if yes:
                    self.start(resume=True, target=stored)

            self.app.push_screen(ConfirmScreen(
                "Resume: send to the stored target?",
                f"This matrix was sent to {describe_target(stored)}.\nThat comes from the"
                " store, not from you. Send its unfinished cells there (with that key)?"),
                answered)
            return
        self.start(resume=True, target=target)

    def action_cancel(self) -> bool:
        """Stop the running matrix; the worker ends (cancelled) once finished cells are saved."""
        if self.run_worker_ is not None and self.run_worker_.is_running:
            self._stop.set()
            return True
        return False

    def action_back(self) -> None:
        if self.action_cancel():
            return
        self.app.pop_screen()

    def copy_text(self) -> str:
        if self.table is None:
            return ""
        import json

        return json.dumps(self.table.to_json_dict(), indent=2)

    def palette_commands(self) -> list[SystemCommand]:
        """Resume only for a matrix that stopped early, cancel only while one runs."""
        running = self.run_worker_ is not None and self.run_worker_.is_running
        commands = [
            SystemCommand("Sort matrix", "Sort by the next column", self.action_sort_next),
            SystemCommand("Reverse matrix order", "Reverse the sort", self.action_sort_reverse),
        ]
        if not running and self.check_action("resume", ()):
            commands.append(SystemCommand("Resume matrix", "Run the unfinished cells",
                                          self.action_resume))
        if running:
            commands.append(SystemCommand("Cancel matrix", "Stop the running matrix",
                                          self.action_cancel))
        return commands


class MatricesScreen(Modal[str | None]):
    """Every matrix in the store, newest first; Enter reopens one."""

    if TYPE_CHECKING:  # Textual types `app` as App[Any]; this screen runs in RepriseApp
        app = getters.app(RepriseApp)

    HELP = """\
## Matrices
- **↑/↓**, **j/k**: move · **Enter**: open the highlighted matrix · **y**: copy its id
- **Escape**: close
"""

    BINDINGS = [Binding("escape", "close", "Close", id="matrices.close", tooltip="Back")]

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical(id="matrices-box", classes="form"):
            yield Static("Prompt-version matrices", classes="form-title")
            yield OptionList(id="matrices-list")

    def on_mount(self) -> None:
        store = self.app.loaded_store
        listing = self.query_one(OptionList)
        matrices = list_matrices(store)
        if not matrices:
            listing.add_option(Option("no matrices yet: press M on a session", disabled=True))
            return
        for matrix in matrices:
            names = []
            for sid in matrix.spec.session_ids:
                summary = store.get_session(sid)
                names.append(literal(summary.name) if summary and summary.name else sid[:8])
            label = Text(f"{matrix.created_at:%Y-%m-%d %H:%M}  ", style="dim")
            label.append(f"{matrix.id[:8]}  ", style="bold")
            label.append(f"{matrix.status:<11} {matrix.finished}/"
                         f"{plural(len(matrix.runs), 'cell'):<9} ")
            label.append(short(", ".join(names), 40), style="dim")
            listing.add_option(Option(label, id=matrix.id))
        listing.highlighted = 0
        listing.focus()

    copy_what = "the matrix id"

    def copy_text(self) -> str:
        listing = self.query_one(OptionList)
        if listing.highlighted is None:
            return ""
        return listing.get_option_at_index(listing.highlighted).id or ""

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)

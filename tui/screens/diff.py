"""Diff screen: every replayed request with its similarity, and the word diff of one.

Compares the recorded responses with a replay, or two replays of the same session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option

from core.compare import Comparison, RequestDiff
from core.diff import DiffResult
from core.labels import fit
from core.replay.models import ReplayResult
from core.text import literal
from tui.screens.steady import SteadyLayout
from tui.widgets.badges import BADGE_CLASSES, DIFF_CLASSES, diff_style, state_badge, state_style
from tui.widgets.diff_view import DiffView
from tui.widgets.footer import Footer
from tui.workers import WorkerRoutes

if TYPE_CHECKING:
    from tui.app import RepriseApp


class ComparisonReady(Message):
    """Every request of the session compared (read and diffed in a worker)."""

    def __init__(self, comparison: Comparison, options: list[Option]) -> None:
        self.comparison = comparison
        self.options = options  # the request list's rows, built in the worker too
        super().__init__()


class RequestDiffReady(Message):
    """The diff of the request being shown, computed in a worker."""

    def __init__(self, diff: RequestDiff) -> None:
        self.diff = diff
        super().__init__()


class ExportDone(Message):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__()


class DiffScreen(SteadyLayout, WorkerRoutes, Screen[None]):
    if TYPE_CHECKING:  # Textual types `app` as App[Any]; this screen runs in RepriseApp
        app = getters.app(RepriseApp)

    COMPONENT_CLASSES = BADGE_CLASSES | DIFF_CLASSES  # coloured by the theme (app.tcss)
    copy_what = "the replayed response"
    AUTO_FOCUS = "#diff-summary"  # ↓/j/k move the request list; Tab reaches the text

    BINDINGS = [
        Binding("escape", "back", "Back", id="diff.back", tooltip="Back to the session"),
        # Priority: the focused diff view has its own `s`, which would toggle only itself.
        Binding("s", "toggle_side", "Side by side", id="diff.side_by_side", priority=True,
                tooltip="Inline or side by side"),
        Binding("n,right_square_bracket", "jump(1)", "Next", id="diff.next",
                tooltip="Next changed request"),
        Binding("p,left_square_bracket", "jump(-1)", "Prev", id="diff.previous",
                tooltip="Previous changed request"),
        Binding("J", "toggle_structure", "JSON", id="diff.structure",
                tooltip="When both answers are JSON: list changes by JSON path "
                        "($.items[12].score: 5 → 6) instead of word by word"),
        Binding("x", "export('html')", "Export", id="diff.export",
                tooltip="Export the replay's report to ./reprise-<replay>.html"),
    ]

    HELP = """\
## Diff
Left: every request of the session with its replay state and similarity. Right: the
original (or first replay's) response against the replayed one, word by word — deleted
words struck through in red, inserted words in green; tool calls are compared as JSON.
- **s**: inline / side by side · **n/p**: next/previous changed request
- **J**: when both answers are JSON (or a fenced ```json block is the whole answer), list the
  changes by JSON path (`$.items[12].score: 5 → 6`, added/removed keys and elements); tool
  calls too. Press again for the word diff.
- **↑/↓**, **j/k**: any request · **Enter** or **Tab**: into the diff text (↑/↓ scroll it),
  **Shift+Tab** back to the list
- **y**: copy the replayed response · **Escape**: back
- **x**: export the replay (word diffs, scores, stats, edits) to `./reprise-<replay>.html`;
  Markdown and JSON from the command palette
"""

    def __init__(self, session_id: str, replay_id: str, order: list[str],
                 current: str | None, *, base: str | None = None) -> None:
        super().__init__()
        self.session_id = session_id
        self.replay_id = replay_id
        self.base_id = base
        self.order = order
        self.current = current
        self.comparison: Comparison | None = None
        self.shown: RequestDiff | None = None
        self.side_by_side = False
        self.structural = False
        self.replayed_text = ""
        self.replay_via = ""

    WORKER_ERRORS = {"diff-load": "cannot compare", "diff-show": "cannot diff",
                     "export": "export failed"}

    @property
    def results(self) -> dict[str, ReplayResult]:
        return self.comparison.results if self.comparison else {}

    @property
    def labels(self) -> dict[str, str]:
        return self.comparison.labels if self.comparison else {}

    @property
    def recorded_failed(self) -> set[str]:
        return self.comparison.recorded_failed if self.comparison else set()

    @property
    def base_name(self) -> str:
        return f"replay {self.base_id[:8]}" if self.base_id else "recorded"

    @property
    def new_name(self) -> str:
        return f"replay {self.replay_id[:8]}"

    def compose(self) -> ComposeResult:
        yield Header(icon="≠")
        with Horizontal(id="diff-body"):
            yield OptionList(id="diff-summary")
            with Vertical(id="diff-right"):
                yield Static("", id="diff-stats")
                with Horizontal(id="diff-columns"):
                    yield Static("", id="diff-column-base", markup=False)
                    yield Static("", id="diff-column-new", markup=False)
                yield DiffView(id="diff-text")
                yield Static("tool calls", id="diff-tools-title", classes="status-line")
                yield DiffView(id="diff-tools")
        yield Footer()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._recolour())
        replay = self.app.loaded_store.get_replay(self.replay_id)  # one row
        self.replay_via = replay.spec.via if replay is not None else ""
        # The header says which side is which: base → new.
        self.sub_title = f"{self.base_name} → {self.new_name}"
        self.query_one("#diff-column-base", Static).update(f"◀ {self.base_name}")
        self.query_one("#diff-column-new", Static).update(f"{self.new_name} ▶")
        self.query_one("#diff-columns").display = False
        self.query_one("#diff-stats", Static).update(Text("comparing…", style="dim"))
        self._show_tools(None)
        self.load_comparison()

    @work(thread=True, exclusive=True, group="diff-load",
          description="comparing responses", exit_on_error=False)
    def load_comparison(self) -> None:
        """Read both sides and every similarity off the UI loop (cached per replay pair)."""
        from core.compare import load_comparison

        comparison = load_comparison(
            self.app.loaded_store, self.session_id, self.replay_id, self.order, self.base_id)
        self.post_message(ComparisonReady(
            comparison, [self._option(comparison, rid) for rid in comparison.order]))

    def on_comparison_ready(self, message: ComparisonReady) -> None:
        comparison = self.comparison = message.comparison
        self.order = comparison.order
        summary = self.query_one("#diff-summary", OptionList)
        summary.clear_options()
        summary.add_options(message.options)
        mean = comparison.mean_similarity
        summary.border_title = (
            f"{comparison.replayed}/{len(self.order)} replayed"
            f" · {len(comparison.changed)} changed"
            + ("" if mean is None else f" · mean {mean:.0%}")
        )
        if not self.order:
            self.query_one("#diff-stats", Static).update(Text("no requests", style="dim"))
            return
        start = self.current if self.current in self.order else None
        if start is None:
            start = next((rid for rid in self.order if rid in comparison.changed),
                         self.order[0])
        summary.highlighted = self.order.index(start)

    def _recolour(self) -> None:
        """A new theme: the list and the statistics again, in its colours."""
        if self.comparison is None:
            return
        summary = self.query_one("#diff-summary", OptionList)
        highlighted = summary.highlighted
        summary.clear_options()
        summary.add_options([self._option(self.comparison, rid) for rid in self.order])
        summary.highlighted = highlighted  # shows the request (and its statistics) again

    def _option(self, comparison: Comparison, request_id: str) -> Option:
        """One row of the request list, as `Content` so the list need not convert it."""
        result = comparison.results.get(request_id)
        label = Text()
        if result is None:
            label.append("  ")
        else:
            label.append_text(state_badge(self, result.status))
        sim = comparison.similarities.get(request_id)
        label.append(f"{sim:>4.0%} " if sim is not None else "  –  ",
                     style=diff_style(self, "same", foreground=True) if sim == 1
                     else diff_style(self, "changed", foreground=True) if sim is not None
                     else state_style(self, "note"))
        # The list is 44 cells or 45% of the screen (app.tcss), less border, badge, similarity.
        room = min(44, int(self.app.size.width * 0.45)) - 13
        label.append(fit(literal(comparison.labels.get(request_id, request_id[:8])),
                         max(8, room)))
        return Option(Content.from_rich_text(label), id=request_id)

    def _similarity(self, request_id: str) -> float | None:
        """The one similarity shown for a request, in the list and in the header alike."""
        return self.comparison.similarities.get(request_id) if self.comparison else None

    # -- showing one request ---------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.show(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on a request opens its diff: the text pane takes focus (Tab comes back)."""
        if event.option.id:
            self.query_one("#diff-text").focus()

    def show(self, request_id: str) -> None:
        """Show one request: its diff is computed in a worker; the newest request wins."""
        self.current = request_id
        if self.comparison is not None:
            self.compute_diff(self.comparison, request_id, self.structural)

    @work(thread=True, exclusive=True, group="diff-show",
          description="diffing one request", exit_on_error=False)
    def compute_diff(self, comparison: Comparison, request_id: str, structural: bool) -> None:
        from core.compare import request_diff

        self.post_message(RequestDiffReady(
            request_diff(self.app.loaded_store, comparison, request_id, self.base_id, structural)))

    def on_request_diff_ready(self, message: RequestDiffReady) -> None:
        diff = message.diff
        if diff.request_id != self.current:
            return  # the user has moved on
        self.shown = diff
        stats = self.query_one("#diff-stats", Static)
        self.query_one("#diff-text", DiffView).set_result(diff.shown)
        self._show_tools(diff.tools)
        self.replayed_text = diff.replayed_text
        if diff.result is None:
            stats.update(Text("not replayed", style="dim"))
            return
        stats.update(self._stats(diff.request_id, diff.result, diff.text, diff.tools,
                                 diff.paths))

    def _show_tools(self, tools: DiffResult | None) -> None:
        view = self.query_one("#diff-tools", DiffView)
        view.display = tools is not None
        self.query_one("#diff-tools-title").display = tools is not None
        if tools is not None:
            view.set_result(tools)

    def _stats(self, request_id: str, result: ReplayResult, diff: DiffResult,
               tools: DiffResult | None, paths: DiffResult | None = None) -> Text:
        line = Text(literal(self.labels.get(request_id, "")) + "\n", style="bold cyan")
        line.append_text(state_badge(self, result.status, with_name=True))
        sim = self._similarity(request_id)
        line.append(f"   similarity {sim:.0%}" if sim is not None else "   similarity –",
                    style="bold")
        line.append(f"   +{diff.added_words}", style=diff_style(self, "inserted", foreground=True))
        line.append(f" −{diff.removed_words} words",
                    style=diff_style(self, "removed", foreground=True))
        if tools is not None:
            line.append(f"   tool calls {'changed' if tools.changed else 'same'}",
                        style="yellow" if tools.changed else "dim")
        if result.latency_ms is not None:
            line.append(f"   {result.latency_ms / 1000:.1f}s", style="dim")
        if result.error:
            line.append(f"\n{literal(result.error)}", style=state_style(self, "error"))
        if result.diverged_reason:
            line.append(f"\n≠ {literal(result.diverged_reason)}",
                        style=state_style(self, "diverged"))
        why = empty_answer_reason(result, self.replay_via)
        if why:
            line.append(f"\n{why}", style=state_style(self, "warning"))
        if request_id in self.recorded_failed:
            line.append("\nthe recorded request failed: its error is shown as the base,"
                        " so no similarity is given", style=state_style(self, "warning"))
        mode = "side by side" if self.side_by_side else "inline"
        if paths is not None:
            mode += f" · {paths.changed_regions} changes by JSON path (J: words)"
        elif self.structural:
            mode += " · not JSON on both sides: word diff"
        line.append(f"\n{self.base_name} → {self.new_name} · {mode} (s) · n/p: changes",
                    style="dim")
        return line

    # -- actions ---------------------------------------------------------------------------
    def action_toggle_side(self) -> None:
        self.side_by_side = not self.side_by_side
        self.query_one("#diff-columns").display = self.side_by_side
        for view in self.query(DiffView):
            view.side_by_side = self.side_by_side
        if self.current:
            self.show(self.current)

    def action_toggle_structure(self) -> None:
        """Changes by JSON path, or word by word."""
        self.structural = not self.structural
        if self.current:
            self.show(self.current)

    def action_jump(self, step: int) -> None:
        if self.comparison is None:
            return
        target = self.comparison.next_changed(self.current, step)
        if target is None:
            self.notify("no changed request in this replay")
            return
        self.query_one("#diff-summary", OptionList).highlighted = self.order.index(target)

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- export ----------------------------------------------------------------------------
    def export_path(self, fmt: str) -> Path:
        return Path.cwd() / f"reprise-{self.replay_id[:8]}.{fmt}"

    def action_export(self, fmt: str = "html") -> None:
        self.export_report(fmt, self.export_path(fmt))

    @work(thread=True, group="export",
          description="exporting the report", exit_on_error=False)
    def export_report(self, fmt: str, path: Path) -> None:
        """Score (judges may call the network), build and write the report off the UI loop."""
        import asyncio

        from core.evals import score_replay
        from core.report import export_replay

        store = self.app.loaded_store
        scores = asyncio.run(score_replay(store, self.replay_id))
        text = export_replay(store, self.replay_id, fmt, scores)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # a reader never sees half a report
        self.post_message(ExportDone(path))

    def on_export_done(self, message: ExportDone) -> None:
        versus = (f"\nit compares replay {self.replay_id[:8]} with the recording, not with"
                  f" replay {self.base_id[:8]}" if self.base_id else "")
        self.notify(f"exported to {message.path}{versus}", title="export")

    def copy_text(self) -> str:
        return self.replayed_text

    def palette_commands(self) -> list[SystemCommand]:
        """Next/previous change only when some request changed."""
        changed = self.comparison is not None and bool(self.comparison.changed)
        return [
            SystemCommand("Toggle side by side", "Inline or side-by-side diff",
                          self.action_toggle_side),
            SystemCommand("Toggle JSON paths", "Changes by JSON path when both answers are JSON",
                          self.action_toggle_structure),
        ] + ([
            SystemCommand("Next change", "Jump to the next changed request",
                          lambda: self.action_jump(1)),
            SystemCommand("Previous change", "Jump to the previous changed request",
                          lambda: self.action_jump(-1)),
        ] if changed else []) + [
            SystemCommand("Export report (HTML)", "Self-contained HTML report of this replay",
                          lambda: self.action_export("html")),
            SystemCommand("Export report (Markdown)", "Markdown report of this replay",
                          lambda: self.action_export("md")),
            SystemCommand("Export report (JSON)", "JSON report of this replay",
                          lambda: self.action_export("json")),
        ]


def empty_answer_reason(result: ReplayResult, via: str) -> str:
    """Why a replayed answer is empty when the cause is known: say it, never a bare blank."""
    if result.status not in ("done", "diverged") or result.output_text.strip() or result.tool_calls:
        return ""
    body = result.sent_body if isinstance(result.sent_body, dict) else {}
    messages = found if isinstance(found := body.get("messages"), list) else []
    uses_tools = bool(body.get("tools")) or any(
        isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")) for m in messages
    )
    if via == "local" and uses_tools:
        return ("empty answer: the local model cannot call tools, and this request's conversation"
                " is about tool calls; replay it on a target that supports tools")
    return "empty answer: the target returned no text and no tool calls"

"""Diff screen: every replayed request with its similarity, and the word diff of one.

Compares the recorded responses with a replay, or two replays of the same session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from core.diff import DiffResult, diff_json, diff_texts
from core.formats import detect_format
from core.json_diff import json_changes, parse_json_answer, structural_result
from core.labels import fit, request_labels
from core.replay.models import ReplayResult
from tui.widgets.diff_view import DiffView
from tui.widgets.request_tree import STATE_BADGES
from tui.widgets.text import clean

CHANGED = {"failed", "diverged", "blocked"}


class Side:
    """One side of a comparison: text and tool calls of a response."""

    def __init__(self, text: str = "", tool_calls: list[Any] | None = None,
                 error: str | None = None) -> None:
        self.text = text
        self.tool_calls = tool_calls or []
        self.error = error


class DiffScreen(Screen[None]):
    copy_what = "the replayed response"
    AUTO_FOCUS = "#diff-summary"  # ↓/j/k move the request list; Tab reaches the text

    BINDINGS = [
        Binding("escape", "back", "Back", id="diff.back"),
        # Priority: the focused diff view has its own `s`, which would toggle only itself.
        Binding("s", "toggle_side", "Side by side", id="diff.side_by_side", priority=True),
        Binding("n,right_square_bracket", "jump(1)", "Next", id="diff.next",
                tooltip="Next changed request"),
        Binding("p,left_square_bracket", "jump(-1)", "Prev", id="diff.previous",
                tooltip="Previous changed request"),
        Binding("J", "toggle_structure", "JSON", id="diff.structure",
                tooltip="When both answers are JSON: list changes by JSON path "
                        "($.items[12].score: 5 → 6) instead of word by word"),
        Binding("x", "export('html')", "Export", id="diff.export"),
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
        self.results: dict[str, ReplayResult] = {}
        self.base_results: dict[str, ReplayResult] = {}
        self.side_by_side = False
        self.structural = False
        self.replayed_text = ""
        self.labels: dict[str, str] = {}
        self.replay_via = ""
        self.recorded_failed: set[str] = set()  # recorded non-2xx: nothing to compare with

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
        store = self.app.store
        self.results = store.replay_results(self.replay_id)
        replay = store.get_replay(self.replay_id)
        self.replay_via = replay.spec.via if replay is not None else ""
        if self.base_id:
            self.base_results = store.replay_results(self.base_id)
        # The header says which side is which: base → new.
        self.sub_title = f"{self.base_name} → {self.new_name}"
        self.query_one("#diff-column-base", Static).update(f"◀ {self.base_name}")
        self.query_one("#diff-column-new", Static).update(f"{self.new_name} ▶")
        self.query_one("#diff-columns").display = False
        requests = store.session_requests(self.session_id)
        by_id = {r.id: r for r in requests}
        self.labels = request_labels(requests)
        if not self.base_id:
            self.recorded_failed = {
                r.id for r in requests if r.status is not None and not 200 <= r.status < 300
            }
        self.order = [rid for rid in self.order if rid in by_id] or list(by_id)
        summary = self.query_one("#diff-summary", OptionList)
        summary.add_options([self._option(rid, by_id[rid]) for rid in self.order])
        changed = sum(1 for rid in self.order if self._changed(rid))
        sims = [s for rid in self.order if (s := self._similarity(rid)) is not None]
        mean = f" · mean {sum(sims) / len(sims):.0%}" if sims else ""
        summary.border_title = (
            f"{len(self.results)}/{len(self.order)} replayed · {changed} changed{mean}"
        )
        start = self.current if self.current in self.order else None
        if start is None:
            start = next((rid for rid in self.order if self._changed(rid)), self.order[0])
        summary.highlighted = self.order.index(start)

    def _option(self, request_id: str, request: Any) -> Option:
        result = self.results.get(request_id)
        label = Text()
        if result is None:
            label.append("  ", style="dim")
        else:
            badge, style = STATE_BADGES.get(result.status, ("?", ""))
            label.append(f"{badge} ", style=style)
        sim = self._similarity(request_id)
        label.append(f"{sim:>4.0%} " if sim is not None else "  –  ",
                     style="green" if sim == 1 else "yellow" if sim is not None else "dim")
        # The list is 44 cells or 45% of the screen (app.tcss), less border, badge, similarity.
        room = min(44, int(self.app.size.width * 0.45)) - 13
        label.append(fit(clean(self.labels.get(request_id, request_id[:8])), max(8, room)))
        return Option(label, id=request_id)

    def _similarity(self, request_id: str) -> float | None:
        """The one similarity shown for a request, in the list and in the header alike."""
        result = self.results.get(request_id)
        if result is None or request_id in self.recorded_failed:
            return None
        if self.base_id:
            base = self.base_results.get(request_id)
            if base is None:
                return None
            return diff_texts(base.output_text, result.output_text).similarity
        return result.similarity

    def _changed(self, request_id: str) -> bool:
        result = self.results.get(request_id)
        if result is None:
            return False
        sim = self._similarity(request_id)
        return result.status in CHANGED or (sim is not None and sim < 1)

    # -- showing one request ---------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.show(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on a request opens its diff: the text pane takes focus (Tab comes back)."""
        if event.option.id:
            self.query_one("#diff-text").focus()

    def _original(self, request_id: str) -> Side:
        if self.base_id:
            base = self.base_results.get(request_id)
            if base is None:
                return Side(error="not replayed in the first replay")
            return Side(base.output_text, base.tool_calls, base.error)
        request = self.app.request_or_none(request_id)
        if request is None:
            return Side(error="request missing from the store")
        body = request.request_body if isinstance(request.request_body, dict) else None
        fmt = detect_format(body, request.provider, request.target_url) if body else None
        if fmt is None:
            raw = request.response_body
            if raw is None or isinstance(raw, str):
                return Side(raw or "")
            import json

            return Side(json.dumps(raw, indent=2, ensure_ascii=False))
        output = fmt.output(request.response_body)
        return Side(output.text, output.tool_calls, output.error)

    def show(self, request_id: str) -> None:
        self.current = request_id
        result = self.results.get(request_id)
        stats = self.query_one("#diff-stats", Static)
        text_view = self.query_one("#diff-text", DiffView)
        tools_view = self.query_one("#diff-tools", DiffView)
        original = self._original(request_id)
        if result is None:
            stats.update(Text("not replayed", style="dim"))
            text_view.set_result(diff_texts(original.text, original.text))
            self._show_tools(None)
            self.replayed_text = ""
            return
        replayed = Side(result.output_text, result.tool_calls, result.error)
        self.replayed_text = replayed.text
        old_text = original.error or original.text
        new_text = replayed.error or replayed.text
        diff = diff_texts(old_text, new_text)
        paths = self._structure(old_text, new_text) if self.structural else None
        text_view.set_result(diff if paths is None else paths)
        tools: DiffResult | None = None
        if original.tool_calls or replayed.tool_calls:
            calls_a = [c.model_dump() for c in original.tool_calls]
            calls_b = [c.model_dump() for c in replayed.tool_calls]
            changes = json_changes(calls_a, calls_b) if self.structural else None
            tools = diff_json(calls_a, calls_b) if changes is None else structural_result(changes)
        self._show_tools(tools)
        stats.update(self._stats(request_id, result, diff, tools, paths))
        del tools_view

    @staticmethod
    def _structure(old_text: str, new_text: str) -> DiffResult | None:
        """Changes by JSON path when both answers are JSON, else None (word diff)."""
        ok_a, value_a = parse_json_answer(old_text)
        ok_b, value_b = parse_json_answer(new_text)
        changes = json_changes(value_a, value_b) if ok_a and ok_b else None
        return None if changes is None else structural_result(changes)

    def _show_tools(self, tools: DiffResult | None) -> None:
        view = self.query_one("#diff-tools", DiffView)
        view.display = tools is not None
        self.query_one("#diff-tools-title").display = tools is not None
        if tools is not None:
            view.set_result(tools)

    def _stats(self, request_id: str, result: ReplayResult, diff: DiffResult,
               tools: DiffResult | None, paths: DiffResult | None = None) -> Text:
        badge, style = STATE_BADGES.get(result.status, ("?", ""))
        line = Text(clean(self.labels.get(request_id, "")) + "\n", style="bold cyan")
        line.append(f"{badge} {result.status}", style=style)
        sim = self._similarity(request_id)
        line.append(f"   similarity {sim:.0%}" if sim is not None else "   similarity –",
                    style="bold")
        line.append(f"   +{diff.added_words}", style="green")
        line.append(f" −{diff.removed_words} words", style="red")
        if tools is not None:
            line.append(f"   tool calls {'changed' if tools.changed else 'same'}",
                        style="yellow" if tools.changed else "dim")
        if result.latency_ms is not None:
            line.append(f"   {result.latency_ms / 1000:.1f}s", style="dim")
        if result.error:
            line.append(f"\n{clean(result.error)}", style="red")
        if result.diverged_reason:
            line.append(f"\n≠ {clean(result.diverged_reason)}", style="magenta")
        why = empty_answer_reason(result, self.replay_via)
        if why:
            line.append(f"\n{why}", style="yellow")
        if request_id in self.recorded_failed:
            line.append("\nthe recorded request failed: its error is shown as the base,"
                        " so no similarity is given", style="yellow")
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
        if not self.order:
            return
        index = self.order.index(self.current) if self.current in self.order else -1
        for _ in range(len(self.order)):
            index = (index + step) % len(self.order)
            if self._changed(self.order[index]):
                self.query_one("#diff-summary", OptionList).highlighted = index
                return
        self.notify("no changed request in this replay")

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- export ----------------------------------------------------------------------------
    def export_path(self, fmt: str) -> Path:
        return Path.cwd() / f"reprise-{self.replay_id[:8]}.{fmt}"

    def action_export(self, fmt: str = "html") -> None:
        self.export_report(fmt, self.export_path(fmt))

    @work(group="export", exit_on_error=False)
    async def export_report(self, fmt: str, path: Path) -> Path:
        import asyncio

        from core.evals import score_replay
        from core.report import export_replay

        store = self.app.store
        scores = await score_replay(store, self.replay_id)
        text = export_replay(store, self.replay_id, fmt, scores)
        await asyncio.to_thread(path.write_text, text, encoding="utf-8")
        return path

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "export":
            return
        if event.state == WorkerState.SUCCESS:
            self.notify(f"exported to {event.worker.result}", title="export")
        elif event.state == WorkerState.ERROR:
            self.app.report_error("export failed", event.worker.error or RuntimeError())

    def copy_text(self) -> str:
        return self.replayed_text

    def palette_commands(self) -> list[SystemCommand]:
        return [
            SystemCommand("Toggle side by side", "Inline or side-by-side diff",
                          self.action_toggle_side),
            SystemCommand("Toggle JSON paths", "Changes by JSON path when both answers are JSON",
                          self.action_toggle_structure),
            SystemCommand("Next change", "Jump to the next changed request",
                          lambda: self.action_jump(1)),
            SystemCommand("Previous change", "Jump to the previous changed request",
                          lambda: self.action_jump(-1)),
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
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    uses_tools = bool(body.get("tools")) or any(
        isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")) for m in messages
    )
    if via == "local" and uses_tools:
        return ("empty answer: the local model cannot call tools, and this request's conversation"
                " is about tool calls; replay it on a target that supports tools")
    return "empty answer: the target returned no text and no tool calls"

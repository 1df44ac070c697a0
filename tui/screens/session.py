"""Session screen: the request tree, the selected request, pending edits and replays.

The screen owns the state (edits, the current replay and its results); the replay worker
only posts messages, which the handlers here turn into tree states and progress.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from rich.style import Style
from rich.text import Text
from textual import getters, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from core.edits import EditSet, ParamEdit, Scope, SystemEdit
from core.models import LoggedRequest
from core.text import literal, literal_text
from core.throughput import first_error, replay_speed
from tui import heap
from tui.screens.steady import SteadyLayout
from tui.widgets.badges import BADGE_CLASSES, state_style
from tui.widgets.edits_panel import EditsPanel
from tui.widgets.footer import Footer
from tui.widgets.replay_status import ReplayProgress, ReplayStatus
from tui.widgets.request_detail import MessageBlock, RequestDetail
from tui.widgets.request_tree import RequestTree
from tui.widgets.system_editor import SystemEditor
from tui.widgets.text import duration, money, plural
from tui.workers import EventBatcher, run_in_thread_loop

if TYPE_CHECKING:
    from core.replay.models import Replay, ReplayEvent, ReplayResult, ReplaySpec, ReplayTarget
    from core.session_view import LoadedReplay, SessionView
    from core.targets import ReplaySettings
    from tui.app import RepriseApp


SHOWN_RESULTS = {"done", "diverged"}  # results whose replayed response is shown
# A session this small is read within a frame: it opens at once, larger ones in a worker.
INLINE_REQUESTS = 50
# Reading workers whose failure is reported (the screen stays, with what it has).
READ_ERRORS = {
    "session-open": "cannot open the session",
    "session-reload": "cannot read the session's new requests",
    "replay-load": "cannot read the replay",
    "tools": "cannot read the session's tools",
}


class SessionScreen(SteadyLayout, Screen[None]):
    if TYPE_CHECKING:  # Textual types `app` as App[Any]; this screen runs in RepriseApp
        app = getters.app(RepriseApp)

    COMPONENT_CLASSES = BADGE_CLASSES  # the replay note's states in the theme's colours
    copy_what = "the selected request's response"
    # Pending edits: assigning a new EditSet updates the tree marks, the edits panel, the
    # shown request and the status line (`watch_edits`).
    edits: reactive[EditSet] = reactive(EditSet, init=False)
    AUTO_FOCUS = "RequestTree"

    BINDINGS = [
        Binding("escape", "back", "Back", id="session.back",
                tooltip="Cancel a running replay, else back to the sessions"),
        Binding("e", "edit", "Edit", id="session.edit", tooltip="Edit the system prompt"),
        Binding("m", "params", "Params", id="session.params",
                tooltip="Model and temperature overrides"),
        Binding("r", "replay", "Replay", id="session.replay",
                tooltip="Replay the session with the pending edits"),
        Binding("d", "diff", "Diff", id="session.diff",
                tooltip="Recorded vs replayed responses, word by word"),
        Binding("R", "replays", "Replays", id="session.replays",
                tooltip="List, reopen, compare and resume replays"),
        Binding("M", "matrix", "Matrix", id="session.matrix",
                tooltip="Replay every combination of prompt variants and score them"),
        Binding("t", "tool_result", "Tool result", show=False, id="session.tool_result",
                tooltip="Answer the tool calls a stopped agent replay waits for"),
        # Shown in place of Back while a replay runs (check_action), so Esc says what it does.
        Binding("escape,ctrl+c", "cancel_replay", "Cancel replay", id="session.cancel",
                tooltip="Stop the running replay; finished results are kept"),
    ]

    HELP = """\
## Session
- **e**: edit the selected request's system prompt · **m**: model/temperature overrides
- **r**: replay the session with the pending edits · **Escape**: cancel a running replay,
  else back to the sessions
- **d**: diff the selected request against the current replay · **R**: replays of this session
- **M**: prompt-version matrix (variants per prompt id, every combination replayed and scored)
- **t**: an agent replay stopped for a tool result (rule `stop`): type or paste it, continue
- **Tab**: move between the tree, the request and the pending edits
"""

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.requests: list[LoggedRequest] = []
        self.by_id: dict[str, LoggedRequest] = {}
        self.labels: dict[str, str] = {}  # request id -> its name by path (core.labels)
        self.edits = EditSet()
        self.replay: Replay | None = None
        self.results: dict[str, ReplayResult] = {}
        self.replay_worker: Worker[Any] | None = None
        self.local_server: Any = None
        self.run_started: datetime | None = None  # when this screen last started a replay run
        self._stop_replay = threading.Event()
        from core.replay.child import SpareProcess

        self._replay_processes = SpareProcess()  # started when the replay form opens
        self.tools: list[str] | None = None  # tools the session offered, read after mount
        # A resume waiting for its replay to be read: (replay id, target, tool results).
        self._resume_after_load: tuple[str, ReplayTarget, dict[str, str] | None] | None = None

    def on_unmount(self) -> None:
        self._replay_processes.release()
        heap.release()  # this session's objects, frozen while it was open, can be collected
        pending = getattr(self.app, "pending_edits", None)
        if pending is not None:
            if self.edits.is_empty:
                pending.pop(self.session_id, None)
            else:
                pending[self.session_id] = self.edits

    def compose(self) -> ComposeResult:
        with Horizontal(id="session-body"):
            yield RequestTree(id="tree")
            with Vertical(id="right"):
                yield RequestDetail(id="detail")
                yield EditsPanel(id="edits")
        yield ReplayStatus(id="replay-status")
        yield Static("", id="session-status", classes="status-line", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        kept = getattr(self.app, "pending_edits", {}).get(self.session_id, self.edits)
        self.set_reactive(SessionScreen.edits, kept)  # shown below, once the tree is loaded
        self.query_one(ReplayStatus).display = False
        summary = self.app.loaded_store.get_session(self.session_id)
        if summary is not None and summary.requests <= INLINE_REQUESTS:
            from core.session_view import load_session_view

            self._show_view(load_session_view(self.app.loaded_store, self.session_id))
            return
        self.query_one(RequestTree).border_title = "loading…"
        self._status("opening the session…")
        self.open_view()

    # -- opening: requests, tree, names and the current replay, read in a worker -----------
    class Opened(Message):
        """The session as the screen shows it (`core.session_view`), read in a worker."""

        def __init__(self, view: SessionView) -> None:
            self.view = view
            super().__init__()

    @work(thread=True, exclusive=True, group="session-open",
          description="opening the session", exit_on_error=False)
    def open_view(self) -> None:
        from core.session_view import load_session_view

        self.post_message(self.Opened(load_session_view(self.app.loaded_store, self.session_id)))

    def on_session_screen_opened(self, message: Opened) -> None:
        self._show_view(message.view)

    def _show_view(self, view: SessionView) -> None:
        self.sub_title = literal(view.name)
        self._show_requests(view)
        tree = self.query_one(RequestTree)
        if view.summary:
            tree.border_subtitle = f"{duration(view.summary.duration_s)} · {money(view.summary.cost)}"
        if view.current is not None:
            self._apply_replay(view.current, quiet=True)
        if self.requests:
            self.call_after_refresh(tree.select_request, self.requests[0].id)
        self._status()
        self.call_after_refresh(heap.settle)  # the session's requests and tree live long

    def _show_requests(self, view: SessionView) -> None:
        """The tree, names and edit marks of the session's requests."""
        self.requests = view.requests
        self.by_id = {r.id: r for r in self.requests}
        self.labels = view.labels
        tree = self.query_one(RequestTree)
        tree.load(view.tree, view.name)
        tree.border_title = literal_text(f"{view.name} · {plural(len(self.requests), 'request')}")
        tree.set_edited({r.id for r in self.requests if self.edits.touches(r)})
        self._show_edits()

    # -- live arrival ----------------------------------------------------------------------
    class RequestsArrived(Message):
        """The session's requests, read again after another process wrote to the store."""

        def __init__(self, view: SessionView) -> None:
            self.view = view
            super().__init__()

    def store_changed(self) -> None:
        # While the session is still opening, the opening worker reads the new rows anyway.
        if not self.requests:
            return
        if self.replay_worker is None or self.replay_worker.is_finished:
            self.reload_requests()

    @work(thread=True, exclusive=True, group="session-reload",
          description="reloading the session", exit_on_error=False)
    def reload_requests(self) -> None:
        from core.session_view import load_session_view

        view = load_session_view(self.app.loaded_store, self.session_id, with_replay=False)
        if [r.id for r in view.requests] != [r.id for r in self.requests]:
            self.post_message(self.RequestsArrived(view))

    def on_session_screen_requests_arrived(self, message: RequestsArrived) -> None:
        tree = self.query_one(RequestTree)
        current = tree.current_request
        self._show_requests(message.view)
        if current is not None and current.id in self.by_id:
            self.call_after_refresh(tree.select_request, current.id)
        self._status()

    # -- showing ---------------------------------------------------------------------------
    def on_request_tree_request_highlighted(self, event: RequestTree.RequestHighlighted) -> None:
        self.show_request(event.request.id)

    def on_request_tree_added_round_highlighted(
        self, event: RequestTree.AddedRoundHighlighted
    ) -> None:
        """A round the replayed agent added: what was sent (the rebuilt conversation)."""
        result = self.results.get(event.result.request_id, event.result)
        template = self.app.request_or_none(result.request_id.split("+", 1)[0])
        if template is None:
            return
        shown = template.model_copy(update={
            "id": result.request_id, "request_body": result.sent_body or template.request_body,
            "response_body": None, "status": None, "latency_ms": result.latency_ms,
            "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
        })
        self.query_one(RequestDetail).show(
            shown, replay_note=self._result_note(result, added=True),
            replayed=result if result.status in SHOWN_RESULTS else None,
            replayed_title="replayed · added round (new)",
        )

    def show_request(self, request_id: str) -> None:
        request = self.app.request_or_none(request_id)
        if request is None:
            return
        override, label = self._system_override(request)
        result = self.results.get(request.id)
        replayed = result if result is not None and result.status in SHOWN_RESULTS else None
        title = "replayed"
        if replayed is not None and replayed.similarity is not None:
            title += f" · similarity {replayed.similarity:.0%}"
        self.query_one(RequestDetail).show(
            request, system_override=override, edit_label=label,
            replay_note=self._replay_note(request), replayed=replayed, replayed_title=title,
        )

    def _system_override(self, request: LoggedRequest) -> tuple[str | None, str]:
        return self.edits.effective_system(request)

    def _replay_note(self, request: LoggedRequest) -> Text | None:
        result = self.results.get(request.id)
        if result is None:
            return None
        return self._result_note(result)

    def _result_note(self, result: ReplayResult, *, added: bool = False) -> Text:
        def role(name: str) -> Style:
            return state_style(self, name)

        note = Text("replayed ", style="bold")
        if added:
            note.append("added round (new, after ", style=role("added"))
            note.append(literal(self.labels.get(result.after or "", result.after or "?")),
                        style=role("added"))
            note.append(") ", style=role("added"))
        note.append(result.status.replace("_", " "), style=role(result.status))
        if result.similarity is not None:
            note.append(f" · similarity {result.similarity:.0%}")
        if result.tool_calls_changed:
            note.append(" · tool calls differ from the recording", style=role("diverged"))
        for tool in result.tool_results:
            note.append("\n  tool ")
            note.append(literal(tool.name), style="bold")
            note.append(f" {literal(tool.call_id)} ← ", style=role("note"))
            if tool.pending:
                note.append("waiting for your result (t)", style=role("needs_tool_result"))
            else:
                source = {"recorded": "recorded result", "user": "your result"}.get(
                    tool.source, f"rule {tool.source}")
                note.append(source, style=role("error" if tool.is_error else "count"))
        if result.note:
            note.append(f"\n{literal(result.note)}", style=role("note"))
        if result.error:
            note.append(f"\n{literal(result.error)}", style=role("error"))
        note.append("  ·  d: diff", style=role("note"))
        return note

    def _status(self, extra: str = "") -> None:
        parts = []
        if self.replay is not None:
            parts.append(
                f"replay {self.replay.id[:8]} · {self.replay.mode} · {self.replay.status}"
            )
        if not self.edits.is_empty:
            n = len(self.edits.system) + len(self.edits.params)
            parts.append(f"{n} pending edit{'s' if n != 1 else ''}")
        if extra:
            parts.append(extra)
        self.query_one("#session-status", Static).update("  ·  ".join(parts))

    # -- editing ---------------------------------------------------------------------------
    def action_edit(self) -> None:
        detail = self.query_one(RequestDetail)
        if self.query(SystemEditor):
            return
        if self.query_one(RequestTree).current_request is None:
            self.notify("move to a request (not a folder) to edit its system prompt",
                        severity="warning")
            return
        request = detail.request
        if request is None:
            return
        if not isinstance(request.request_body, dict):
            self.notify("this request has no JSON body to edit", severity="warning")
            return
        override, _ = self._system_override(request)
        blocks = detail.query(".system-message")
        if override is not None:
            text = override
        elif blocks:
            text = blocks.first(MessageBlock).text
        else:
            text = ""
        count = sum(1 for r in self.requests if request.prompt_id and r.prompt_id == request.prompt_id)
        editor = SystemEditor(
            text, request_id=request.id, prompt_id=request.prompt_id, prompt_count=count,
            total_count=len(self.requests), id="system-editor",
        )
        if blocks:
            block = blocks.first()
            detail.mount(editor, after=block)
            block.display = False
        else:
            detail.mount(editor, after=detail.query_one(".detail-meta"))
        editor.scroll_visible()

    def on_system_editor_saved(self, event: SystemEditor.Saved) -> None:
        event.stop()
        edit = SystemEdit(scope=event.scope, target=event.target, text=event.text)
        # One edit per request: a new scope replaces the other one for this prompt/request.
        self.edits = self.edits.set_system(edit)
        where = f"prompt id {event.target}" if event.scope == "prompt" else "this request"
        if event.target == "*":
            where = "every request in the session"
        self.notify(f"system prompt edited for {where}")
        self._close_editor()

    def on_system_editor_cancelled(self, event: SystemEditor.Cancelled) -> None:
        event.stop()
        self._close_editor()

    def _close_editor(self) -> None:
        for editor in self.query(SystemEditor):
            editor.remove()
        tree = self.query_one(RequestTree)
        request = tree.current_request
        if request is not None:
            self.show_request(request.id)
        tree.focus()

    def action_params(self) -> None:
        from tui.screens.params import ParamsScreen

        request = self.query_one(RequestTree).current_request
        if request is None:
            self.notify("move to a request (not a folder) to override its model or temperature",
                        severity="warning")
            return
        scope: Scope = "prompt" if request.prompt_id else "request"
        target = request.prompt_id or request.id
        current = self.edits.params_for(scope, target)

        def done(result: ParamEdit | None) -> None:
            if result is not None:
                self.edits = self.edits.set_params(scope, target, result)

        self.app.push_screen(ParamsScreen(scope, target, current), done)

    def on_edits_panel_reset(self, event: EditsPanel.Reset) -> None:
        if event.kind == "all":
            self.edits = EditSet()
        elif event.kind == "system" and event.index is not None:
            edit = self.edits.system[event.index]
            self.edits = self.edits.remove_system(edit.scope, edit.target)
        elif event.kind == "params" and event.index is not None:
            self.edits = self.edits.without_params_at(event.index)
        if self.edits.is_empty:
            self.query_one(RequestTree).focus()

    def _show_edits(self) -> None:
        """The pending edits, each summarised by what it changes in the recorded prompt."""
        originals: dict[str, str] = {}
        for edit in self.edits.system:
            request = next((r for r in self.requests if edit.applies_to(r)), None)
            full = self.app.request_or_none(request.id) if request is not None else None
            if full is not None and isinstance(full.request_body, dict):
                from core.formats import request_format

                fmt = request_format(full)
                if fmt is not None:
                    originals[edit.target] = "\n".join(fmt.system_prompts(full.request_body))
        self.query_one(EditsPanel).show_edits(self.edits, originals, self.labels)

    def watch_edits(self) -> None:
        edited = {r.id for r in self.requests if self.edits.touches(r)}
        self.query_one(RequestTree).set_edited(edited)
        self._show_edits()
        request = self.query_one(RequestTree).current_request
        if request is not None and not self.query(SystemEditor):
            self.show_request(request.id)
        self._status()

    # -- replay ----------------------------------------------------------------------------
    def action_replay(self) -> None:
        from tui.screens.replay_form import ReplayForm

        if self.replay_worker is not None and self.replay_worker.is_running:
            self.notify("a replay is already running (Escape cancels it)", severity="warning")
            return
        # The session's tools are read off the UI thread after mount; a form opened before
        # they are known gets their rules as soon as they are (`ToolsFound`).
        self._prepare_replay_process()  # its start is paid while the form is read
        edits = self.query_one(EditsPanel).summary_lines()
        self.app.push_screen(ReplayForm(self.app.loaded_config, len(self.requests), edits,
                                        self.tools), self._start_replay)

    @work(thread=True, group="replay-process",
          description="starting a replay process", exit_on_error=False)
    def _prepare_replay_process(self) -> None:
        self._replay_processes.prepare()

    class ToolsFound(Message):
        """The tools the session offered (read with the bodies, off the UI thread)."""

        def __init__(self, tools: list[str]) -> None:
            self.tools = tools
            super().__init__()

    def on_request_tree_loaded(self, _message: RequestTree.Loaded) -> None:
        # Read once the tree has filled in: this worker parses every request's body and
        # preloads modules, and run alongside the tree's first frames it held them up.
        self._find_tools()

    @work(thread=True, exclusive=True, group="tools",
          description="reading the tools offered", exit_on_error=False)
    def _find_tools(self) -> None:
        from core.replay.agent import session_tools

        requests = self.app.loaded_store.session_requests(self.session_id, bodies=True)
        self.post_message(self.ToolsFound(sorted(session_tools(requests))))
        warm_next_screens()

    def on_session_screen_tools_found(self, message: ToolsFound) -> None:
        from tui.screens.replay_form import ReplayForm

        self.tools = message.tools
        for screen in self.app.screen_stack:
            if isinstance(screen, ReplayForm):
                screen.set_tools(message.tools)

    def _start_replay(self, choice: ReplaySettings | None) -> None:
        if choice is None:
            return
        from core.replay.models import ReplaySpec

        target = choice.target
        spec = ReplaySpec(
            session_id=self.session_id,
            edits=self.edits,
            mode=choice.mode,
            via=target.via,
            model=choice.model,
            api_key_env=target.api_key_env,
            allow_hosts=list(target.allow_hosts),
            concurrency=choice.concurrency,
            **({"tools": choice.tools} if choice.tools is not None else {}),
        )
        tree = self.query_one(RequestTree)
        tree.clear_states()
        self.results = {}
        status = self.query_one(ReplayStatus)
        status.start(len(self.requests), f"replay → {target.label}")
        self.run_started = datetime.now(UTC)
        self.replay_worker = self.run_replay(spec, target.local)

    @work(thread=True, exclusive=True, group="replay",
          description="replaying the session", exit_on_error=False)
    def run_replay(self, spec: ReplaySpec, local: bool, resume_id: str | None = None,
                   target: ReplayTarget | None = None,
                   tool_results: dict[str, str] | None = None) -> LoadedReplay:
        """The engine runs on its own loop in this thread; events reach the UI in batches.
        The finished replay and its results are read here too, off the UI thread."""
        from core.replay.engine import run_replay
        from core.session_view import LoadedReplay, load_replay

        self._stop_replay.clear()
        batcher: EventBatcher[ReplayEvent] = EventBatcher(
            lambda events: self.post_message(ReplayProgress(events)))
        if not local:
            # The engine runs in a process of its own (core.replay.child): in a thread here
            # it would share the interpreter lock with every frame the screen paints.
            from core.replay.child import job_for

            job = job_for(self.app.loaded_store, spec, resume_id=resume_id, target=target,
                          tool_results=tool_results)
            worker = get_current_worker()
            with heap.paused():
                replay = self._replay_processes.take().run(
                    job, batcher.add,
                    lambda: self._stop_replay.is_set() or worker.is_cancelled, batcher.flush)
            return load_replay(self.app.loaded_store, replay.id) or LoadedReplay(replay=replay)
        # The engine starts (or reuses) the local model, which lives as long as the app:
        # it runs here. "local" survives a resume.
        spec = spec.model_copy(update={"via": "local"})
        with heap.paused():
            replay = run_in_thread_loop(
                lambda: run_replay(self.app.loaded_store, spec, on_event=batcher.add,
                                   resume_id=resume_id, target=target,
                                   tool_results=tool_results),
                self._stop_replay, batcher)
        return load_replay(self.app.loaded_store, replay.id) or LoadedReplay(replay=replay)

    def on_replay_progress(self, message: ReplayProgress) -> None:
        tree = self.query_one(RequestTree)
        status = self.query_one(ReplayStatus)
        states: dict[str, str] = {}
        added = False
        current = tree.current_request
        refresh_current = False
        for event in message.events:
            if self.replay is None or self.replay.id != event.replay_id:
                self.replay = self.app.loaded_store.get_replay(event.replay_id)
                self._status()  # the status line names the running replay, not the last one
            if event.request_id is None:
                continue
            if "+" in event.request_id:  # a round the replayed agent added
                if event.result is not None:
                    self.results[event.request_id] = event.result
                    added = True
                continue
            state = {"started": "running", "retried": "retrying",
                     "queued": "queued"}.get(event.kind)
            if event.result is not None:
                self.results[event.request_id] = event.result
                if state is None:
                    state = event.result.status
                refresh_current |= current is not None and current.id == event.request_id
            states[event.request_id] = state or event.kind
            if event.kind == "retried" and event.message:
                status.finish(f"retrying: {literal(event.message)[:60]}")
        status.feed_many(message.events)
        tree.set_states(states)
        status.set_states(states)
        if added:
            tree.set_added(self._added_rounds())
        if refresh_current and current is not None:
            self.show_request(current.id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group in READ_ERRORS:
            self.app.report_error(READ_ERRORS[event.worker.group],
                                  event.worker.error or RuntimeError("unknown error"))
            self._status()
            return
        if event.worker is not self.replay_worker:
            return
        self.refresh_bindings()  # Esc: Cancel replay while it runs, Back otherwise
        status = self.query_one(ReplayStatus)
        if event.state == WorkerState.SUCCESS:
            loaded = cast("LoadedReplay", event.worker.result)  # replay_worker's result
            self._apply_replay(loaded, quiet=True)
            replay = loaded.replay
            speed = replay_speed(replay, self.results.values(), self.run_started)
            reason = first_error(self.results.values(), self.labels)
            status.finish(
                f"replay {replay.status}: {replay.done} done, {replay.failed} failed{speed}"
                + (f" · {reason}" if reason else "")
            )
            self.notify(f"replay {replay.status}{speed}" + (f"\n{reason}" if reason else ""),
                        title="replay", severity="warning" if reason else "information")
            if replay.status == "needs_tool_result":
                self.action_tool_result()
            self.call_after_refresh(heap.settle)  # its results stay as long as the session
        elif event.state == WorkerState.CANCELLED:
            if self.replay is not None:
                self.load_replay(self.replay.id, quiet=True)
            status.finish("replay cancelled")
            self.notify("replay cancelled; finished results are kept (R, then r resumes)",
                        title="replay", severity="warning")
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            status.finish("replay failed")
            self.app.report_error("replay failed", error or RuntimeError("unknown error"))
        self._status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        running = self.replay_worker is not None and self.replay_worker.is_running
        if action == "cancel_replay":
            return running
        if action == "back":
            return not running
        return True

    def action_cancel_replay(self) -> bool:
        """Stop the running replay; the worker ends (cancelled) once results are saved."""
        if self.replay_worker is not None and self.replay_worker.is_running:
            self._stop_replay.set()
            return True
        return False

    def action_back(self) -> None:
        if self.action_cancel_replay():
            return
        self.app.pop_screen()

    class ReplayLoaded(Message):
        """A stored replay and its results, read in a worker (None: no such replay)."""

        def __init__(self, replay_id: str, loaded: LoadedReplay | None, quiet: bool) -> None:
            self.replay_id = replay_id
            self.loaded = loaded
            self.quiet = quiet
            super().__init__()

    def load_replay(self, replay_id: str, *, quiet: bool = False) -> None:
        """Show a stored replay's states and results (read in a worker)."""
        self.read_replay(replay_id, quiet)

    @work(thread=True, group="replay-load",
          description="loading a replay", exit_on_error=False)
    def read_replay(self, replay_id: str, quiet: bool) -> None:
        from core.session_view import load_replay

        self.post_message(self.ReplayLoaded(replay_id,
                                            load_replay(self.app.loaded_store, replay_id), quiet))

    def on_session_screen_replay_loaded(self, message: ReplayLoaded) -> None:
        resume, self._resume_after_load = self._resume_after_load, None
        if message.loaded is None:
            self.notify(f"no replay {message.replay_id}", severity="error")
            return
        if self.replay_worker is not None and self.replay_worker.is_running:
            return  # a replay started meanwhile: its own events decide what is shown
        self._apply_replay(message.loaded, quiet=message.quiet)
        if resume is not None and resume[0] == message.replay_id:
            self._start_resumed(*resume)

    def _apply_replay(self, loaded: LoadedReplay, *, quiet: bool) -> None:
        replay = loaded.replay
        self.replay = replay
        self.results = dict(loaded.results)
        tree = self.query_one(RequestTree)
        tree.replace_states({rid: r.status for rid, r in self.results.items() if not r.extra})
        tree.set_added(self._added_rounds())
        if not quiet:
            self.edits = replay.spec.edits
            self.notify(f"replay {replay.id[:8]} loaded")
        current = tree.current_request
        if current is not None:
            self.show_request(current.id)
        self._status()

    def _added_rounds(self) -> list[ReplayResult]:
        from core.replay.agent import ordered_results

        order = [r.id for r in self.requests]
        return [r for r in ordered_results(order, self.results) if r.extra]

    def action_tool_result(self) -> None:
        """Answer the tool calls a stopped agent replay waits for, then continue it."""
        from tui.screens.tool_result import ToolResultScreen

        if self.replay_worker is not None and self.replay_worker.is_running:
            self.notify("the replay is still running", severity="warning")
            return
        pending = [call for r in self.results.values() for call in r.pending_calls]
        if self.replay is None or not pending:
            self.notify("no replay here waits for a tool result", severity="warning")
            return
        replay_id = self.replay.id

        def done(results: dict[str, str] | None) -> None:
            if results:
                self.resume_replay(replay_id, tool_results=results)
            else:
                self.notify("the replay stays stopped; t gives the tool result later")

        self.app.push_screen(ToolResultScreen(pending), done)

    # -- diff ------------------------------------------------------------------------------
    def action_diff(self) -> None:
        from tui.screens.diff import DiffScreen

        if self.replay is None or not self.results:
            self.notify("no replay yet: press r to replay this session", severity="warning")
            return
        current = self.query_one(RequestTree).current_request
        order = [rid for rid in self.query_one(RequestTree).request_order()]
        self.app.push_screen(
            DiffScreen(self.session_id, self.replay.id, order, current.id if current else None)
        )

    def action_replays(self) -> None:
        from tui.screens.replays import ReplayChoice, ReplaysScreen

        def done(choice: ReplayChoice | None) -> None:
            if choice is None:
                return
            if choice.resume:
                self.resume_replay(choice.first)
                return
            if choice.second is None:
                self.load_replay(choice.first)
                return
            from tui.screens.diff import DiffScreen

            order = self.query_one(RequestTree).request_order()
            self.app.push_screen(
                DiffScreen(self.session_id, choice.second, order, None, base=choice.first)
            )

        self.app.push_screen(ReplaysScreen(self.session_id), done)

    def resume_replay(self, replay_id: str,
                      tool_results: dict[str, str] | None = None) -> None:
        """Run the unfinished requests of a stopped replay; its finished results are kept.

        Where they go is the person's call: a stored target that is not built in (a base
        URL, a key variable, allowed hosts) is shown in a confirmation first."""
        from core.replay.transport import TargetRefused, describe_target

        if self.replay_worker is not None and self.replay_worker.is_running:
            self.notify("a replay is already running (Escape cancels it)", severity="warning")
            return
        stored = self.app.loaded_store.get_replay(replay_id)
        if stored is None:
            return
        try:
            target = self.app.loaded_config.resume_target(stored.spec.target(),
                                                          f"replay {replay_id}")
        except TargetRefused:
            from tui.screens.confirm import ConfirmScreen

            def answered(yes: bool | None) -> None:
                if yes:
                    self._resume(replay_id, stored.spec.target(), tool_results)

            self.app.push_screen(ConfirmScreen(
                "Resume: send to the stored target?",
                f"Replay {replay_id[:8]} was sent to {describe_target(stored.spec.target())}."
                "\nThat comes from the store, not from you. Send its unfinished requests"
                " there (with that key)?"), answered)
            return
        self._resume(replay_id, target, tool_results)

    def _resume(self, replay_id: str, target: ReplayTarget,
                tool_results: dict[str, str] | None = None) -> None:
        """Load the stored replay (in a worker), then run its unfinished requests."""
        self._resume_after_load = (replay_id, target, tool_results)
        self.load_replay(replay_id)

    def _start_resumed(self, replay_id: str, target: ReplayTarget,
                       tool_results: dict[str, str] | None = None) -> None:
        if self.replay is None or self.replay.id != replay_id:
            return
        status = self.query_one(ReplayStatus)
        via = target.via
        label = "local SmolLM2 model" if via == "local" else literal(via)
        status.start(len(self.requests), f"resume {replay_id[:8]} → {label}")
        status.set_states({rid: r.status for rid, r in self.results.items() if not r.extra})
        self.run_started = datetime.now(UTC)
        # The stored status (cancelled, failed…) no longer holds: it runs again.
        self.replay = self.replay.model_copy(update={"status": "running"})
        self._status()
        self.replay_worker = self.run_replay(self.replay.spec, False, resume_id=replay_id,
                                             target=target, tool_results=tool_results)

    # -- matrix ----------------------------------------------------------------------------
    def action_matrix(self) -> None:
        from tui.screens.matrix_setup import MatrixChoice, MatrixSetup

        def done(choice: MatrixChoice | None) -> None:
            if choice is None:
                return
            from tui.screens.matrix import MatrixScreen

            self.app.push_screen(
                MatrixScreen(spec=choice.spec, local=choice.local, label=choice.label,
                             plan=choice.plan)
            )

        self.app.push_screen(
            MatrixSetup(self.app.loaded_config, self.session_id, self.requests, self.edits), done
        )

    # -- palette ---------------------------------------------------------------------------
    def palette_commands(self) -> list[SystemCommand]:
        """Only the commands that can run now (a diff needs a replay, cancel a running one)."""
        running = self.replay_worker is not None and self.replay_worker.is_running
        on_request = self.query_one(RequestTree).current_request is not None
        waiting = not running and any(r.pending_calls for r in self.results.values())
        offered = [
            (on_request, SystemCommand("Edit system prompt",
                                       "Edit the selected request's system prompt",
                                       self.action_edit)),
            (on_request, SystemCommand("Model/temperature overrides", "Per prompt id",
                                       self.action_params)),
            (not running, SystemCommand("Replay session", "Replay with the pending edits",
                                        self.action_replay)),
            (self.replay is not None and bool(self.results),
             SystemCommand("Diff", "Original vs replayed responses", self.action_diff)),
            (True, SystemCommand("Replays", "List, reopen and compare replays",
                                 self.action_replays)),
            (True, SystemCommand("Prompt-version matrix",
                                 "Replay every combination of prompt variants",
                                 self.action_matrix)),
            (waiting, SystemCommand("Give a tool result", "Answer the tool calls a stopped agent"
                                    " replay waits for, then continue it",
                                    self.action_tool_result)),
            (running, SystemCommand("Cancel replay", "Stop the running replay",
                                    self.action_cancel_replay)),
        ]
        return [command for can_run, command in offered if can_run]

    def copy_text(self) -> str:
        return self.query_one(RequestDetail).copy_text()


def warm_next_screens() -> None:
    """Load what the session's keys open next (forms, diff, replays, matrix setup, the local
    model check) in this worker thread, so a key press never pays for an import on the UI
    thread."""
    import importlib

    from core.targets import local_available

    for module in ("tui.screens.replay_form", "tui.screens.diff", "tui.screens.replays",
                   "tui.screens.matrix_setup", "tui.screens.matrix", "tui.screens.params",
                   "core.replay.engine", "core.compare"):
        importlib.import_module(module)
    local_available()

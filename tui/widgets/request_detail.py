"""The selected request: metadata, messages with role styling, the response, the replay."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.formats import Output, replay_blocker, request_format
from core.models import LoggedRequest
from core.sources.calls import undecided_note
from core.text import literal, literal_text
from tui.widgets.badges import BADGE_CLASSES, state_style
from tui.widgets.text import duration, money, plural

PARAM_KEYS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "max_output_tokens", "seed",
    "stream",
)


class MessageBlock(Static):
    """One message; its role decides the style (system, user, assistant, tool)."""

    def __init__(self, title: str, body: Text, role: str, extra: str = "") -> None:
        super().__init__(body, classes=f"message role-{role} {extra}".strip())
        self.border_title = literal_text(title)
        self.text = body.plain


def _with_reasoning(message: Any, body: Text) -> Text:
    """The reasoning (thinking, summaries) of a message or output, dimmed, before its text."""
    reasoning = getattr(message, "reasoning", "")
    if not reasoning:
        return body
    result = Text("reasoning: ", style="dim bold")
    result.append(literal(reasoning), style="dim italic")
    if body.plain:
        result.append("\n")
        result.append_text(body)
    return result


def _tool_calls_text(message: Any, body: Text) -> None:
    """Append the tool calls of a message, an output or a replay result."""
    for call in message.tool_calls:
        if body.plain:
            body.append("\n")
        body.append("→ ", style="bold")
        body.append(literal(call.name), style="bold")
        args = call.arguments
        with contextlib.suppress(ValueError, TypeError):
            args = json.dumps(json.loads(args), indent=2, ensure_ascii=False)
        body.append("(" + literal(args) + ")")


class RequestDetail(VerticalScroll, can_focus=True):
    COMPONENT_CLASSES = BADGE_CLASSES  # status, notes and warnings in the theme's colours
    copy_what = "the response"

    HELP = """\
## Request
The selected request: model, parameters, tokens, cost and latency, then its messages
(system, user, assistant, tool calls and results) and its response. Text is shown exactly as
logged: markup and escape sequences are not interpreted.
- **e**: edit the system prompt in place · **m**: model/temperature overrides
- **y**: copy the response · **↑/↓**, **PgUp/PgDn**: scroll
"""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request: LoggedRequest | None = None
        self.response_text = ""
        self._shown: dict[str, Any] = {}  # the last `show` arguments, to redraw in a new theme
        self._replayed_block: MessageBlock | None = None
        self._note_block: MessageBlock | None = None

    def compose(self) -> ComposeResult:
        yield Static("Select a request in the tree.", classes="detail-meta", markup=False)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def _redraw(self) -> None:
        if self.request is not None:
            self.show(self.request, **self._shown, force=True)

    def show(
        self,
        request: LoggedRequest,
        *,
        system_override: str | None = None,
        edit_label: str = "",
        replay_note: Text | None = None,
        replayed: Any = None,
        replayed_title: str = "replayed",
        force: bool = False,
    ) -> None:
        """`replayed` (a replay result) is shown under the original response, literally.

        When only the replay changed (its result arrived for the request on screen), only the
        replay blocks are updated: rebuilding every message would restyle and relayout them all.
        """
        same = (not force and self._shown and self.request == request
                and self._shown["system_override"] == system_override
                and self._shown["edit_label"] == edit_label)
        self.request = request
        self._shown = {"system_override": system_override, "edit_label": edit_label,
                       "replay_note": replay_note, "replayed": replayed,
                       "replayed_title": replayed_title}
        if same and self._replayed_block is not None and self._note_block is not None:
            self._show_replay(replayed, replayed_title, replay_note)
            return
        widgets: list[Static] = [Static(self._meta(request), classes="detail-meta")]
        body = request.request_body if isinstance(request.request_body, dict) else None
        fmt = request_format(request) if body else None
        reason = replay_blocker(request)
        if reason:
            widgets.append(Static(Text(literal(f"⚠ {reason}"), style=state_style(self, "warning")),
                                  classes="notice"))
        undecided = undecided_note(request)
        if undecided:
            widgets.append(Static(Text(literal(f"↪ {undecided}"),
                                       style=state_style(self, "count")), classes="notice"))
        if fmt is not None and body is not None:
            for note in fmt.notes(body):
                widgets.append(Static(Text(literal(f"↪ {note}"), style=state_style(self, "count")),
                                      classes="notice"))
        if fmt is None or body is None:
            if request.request_body is not None:
                preview = request.request_body
                if not isinstance(preview, str):
                    preview = json.dumps(preview, indent=2, ensure_ascii=False)
                widgets.append(MessageBlock("request", literal_text(preview), "user"))
            output = None
        else:
            system_done = False
            for index, message in enumerate(fmt.messages(body)):
                text = message.text
                role = message.role
                is_system = role in ("system", "developer")
                title = role
                if is_system and system_override is not None and not system_done:
                    text = system_override
                    title = f"{role} · ✎ {edit_label}"
                text_body = _with_reasoning(message, literal_text(text))
                _tool_calls_text(message, text_body)
                if message.tool_call_id or (role == "tool" and message.name):
                    title += f" ← {literal(message.tool_call_id or message.name or '')}"
                block_id = "system-message" if is_system and not system_done else ""
                system_done = system_done or is_system
                style_role = "system" if is_system else role
                widgets.append(MessageBlock(title, text_body, style_role, extra=block_id))
                del index
            if not system_done and system_override is not None:
                widgets.insert(
                    1,
                    MessageBlock(
                        f"system · ✎ {edit_label}", literal_text(system_override), "system",
                        extra="system-message",
                    ),
                )
            output = fmt.output(request.response_body)
        widgets.append(self._response_block(request, output))
        self._replayed_block = MessageBlock(replayed_title, Text(), "replayed", "replayed")
        self._note_block = MessageBlock("", Text(), "replay")
        widgets += [self._replayed_block, self._note_block]
        self._show_replay(replayed, replayed_title, replay_note)
        self.remove_children()
        self.mount_all(widgets)
        self.scroll_home(animate=False)

    def _show_replay(self, replayed: Any, title: str, note: Text | None) -> None:
        """Fill the two replay blocks in place; a block with nothing to say is hidden."""
        block, note_block = self._replayed_block, self._note_block
        assert block is not None and note_block is not None
        block.display = replayed is not None
        if replayed is not None:
            body_text = literal_text(replayed.output_text)
            _tool_calls_text(replayed, body_text)
            if not body_text.plain:
                body_text = Text("(empty response)", style="dim")
            block.border_title = literal_text(title)
            block.text = body_text.plain
            block.update(body_text)
        note_block.display = note is not None
        if note is not None:
            note_block.text = note.plain
            note_block.update(note)

    def _response_block(self, request: LoggedRequest, output: Output | None) -> MessageBlock:
        if output is None:
            raw = request.response_body
            text = raw if isinstance(raw, str) else json.dumps(raw, indent=2, ensure_ascii=False)
            body = literal_text(text or "(no response logged)")
        elif output.error:
            body = Text(literal(output.error), style=state_style(self, "error"))
        else:
            body = literal_text(output.text)
            _tool_calls_text(output, body)
            self.response_text = body.plain
            body = _with_reasoning(output, body)
            title = "response"
            if output.finish_reason:
                title += f" · {literal(output.finish_reason)}"
            return MessageBlock(title, body, "response", "response")
        self.response_text = body.plain
        title = "response"
        if output is not None and output.finish_reason:
            title += f" · {literal(output.finish_reason)}"
        return MessageBlock(title, body, "response", "response")

    def _meta(self, request: LoggedRequest) -> Text:
        note = state_style(self, "note")
        meta = Text()
        meta.append(literal(request.model), style="bold")
        meta.append(f"  {literal(request.provider)}", style=note)
        if request.prompt_id:
            meta.append("  prompt ", style=note)
            meta.append(literal(request.prompt_id), style=state_style(self, "count") + Style(bold=True))
        status = request.status
        meta.append(
            f"  {status if status is not None else '–'}",
            style=state_style(self, "done" if status and 200 <= status < 300 else "error"),
        )
        meta.append("\n")
        meta.append(f"path {literal(request.session_path)}  id {literal(request.id)}\n", style=note)
        tokens = f"{request.prompt_tokens or 0}→{request.completion_tokens or 0} tokens"
        latency = duration(request.latency_ms / 1000) if request.latency_ms is not None else "–"
        meta.append(f"{tokens} · {money(request.cost)} · {latency}")
        raw_cost = getattr(request, "raw_cost", None)
        if raw_cost is not None:
            meta.append(f"\n⚠ logged cost {raw_cost:g} is not a dollar amount; not counted",
                        style=state_style(self, "warning"))
        body = request.request_body if isinstance(request.request_body, dict) else {}
        params = [f"{k}={body[k]}" for k in PARAM_KEYS if k in body]
        tools = body.get("tools") if isinstance(body.get("tools"), list) else []
        if tools:
            params.append(plural(len(tools), "tool"))
        if params:
            meta.append("\n" + literal(" · ".join(params)), style=note)
        return meta

    def copy_text(self) -> str:
        return self.response_text

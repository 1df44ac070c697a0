"""The replay form: mode, target, concurrency and model override; the target is always shown.

Target resolution: the local model when installed, else a configured OpenAI-compatible
endpoint, else Ollama on loopback; the original providers (with their API keys from the
environment) are always offered, and the form says plainly when nothing free is available.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
    TextArea,
)

from core.targets import (
    LOCAL_CONCURRENCY,
    ReplaySettings,
    TargetOption,
    default_target,
    local_available,
    ollama_target,
)
from core.targets import base_targets as core_targets
from core.targets import default_concurrency as target_concurrency
from tui.config import Config
from tui.navigation import Modal
from tui.widgets.text import plural

if TYPE_CHECKING:
    from core.replay.environment import ToolSettings

__all__ = ["LOCAL_CONCURRENCY", "NOTHING_FREE", "ReplayForm", "base_targets",
           "default_concurrency"]

NOTHING_FREE = (
    "No local model or endpoint found: install the local model (`reprise serve-local`"
    " explains how), start Ollama, or set [replay] base_url in config.toml."
)


def base_targets(config: Config) -> list[TargetOption]:
    """Targets known without network probes, best first (`core.targets`)."""
    return core_targets(base_url=config.replay.base_url, api_key_env=config.replay.api_key_env,
                        environ=os.environ, local_available=local_available())


def default_concurrency(target: TargetOption, config: Config) -> int:
    return target_concurrency(target, config.replay.concurrency)


class ModeButton(RadioButton):
    """A radio button whose dot is drawn only when chosen: on and off never look alike."""

    # Textual declares BUTTON_INNER a plain str but reads it at each render: a property works.
    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # noqa: N802 (Textual's name)
        return "●" if self.value else " "


class ModeSet(RadioSet, inherit_bindings=False):
    """Arrows choose the mode at once; Enter is left to the form, which starts the replay."""

    BINDINGS = [
        Binding("down,right", "next_button", "Next mode", show=False, id="replay.mode_next",
                tooltip="Choose the next mode"),
        Binding("up,left", "previous_button", "Previous mode", show=False,
                id="replay.mode_previous", tooltip="Choose the previous mode"),
        Binding("space", "toggle_button", "Choose", show=False, id="replay.mode_choose",
                tooltip="Choose the highlighted mode"),
    ]

    def action_next_button(self) -> None:
        super().action_next_button()
        self._choose()

    def action_previous_button(self) -> None:
        super().action_previous_button()
        self._choose()

    def action_toggle_button(self) -> None:
        self._choose()

    def _choose(self) -> None:
        """Press the highlighted button and release the others (exactly one is on)."""
        for index, button in enumerate(self.query(RadioButton)):
            button.value = index == self._selected


class ReplayForm(Modal[ReplaySettings | None]):
    HELP = """\
## Replay
- **Mode**: chained sends each request with the replayed outputs of the requests it
  quotes; isolated sends every request as recorded (with the edits).
- **Target**: where the requests go. Keys are read from the environment, never stored.
- **Tool calls** (agent sessions, chained): who answers a tool call the recording never saw:
  `error`, `stub:TEXT`, `stub:@FILE`, `nearest`, `exec:COMMAND`, `mcp:COMMAND`, `llm` or
  `stop` (you type the result). One line per tool overrides the default; the choice is
  saved in config.toml (`[replay.tools]`).
- **↑/↓** on the mode: choose it · **Enter** / **ctrl+s**: start · **Escape**: cancel
"""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="replay.form_cancel",
                tooltip="Close without replaying"),
        Binding("ctrl+s,f2", "start", "Start", priority=True, id="replay.form_start",
                tooltip="Start the replay"),
        Binding("enter", "start", "Start", show=False, id="replay.form_enter",
                tooltip="Start the replay"),
    ]

    def __init__(self, config: Config, requests: int, edits: list[Any] | None = None,
                 tools: list[str] | None = None) -> None:
        super().__init__()
        self.config = config
        self.requests = requests
        self.edits = edits or []
        self.tools = list(tools or [])  # the tools the session offered (agent sessions)
        self.targets = base_targets(config)
        self._concurrency_default = default_concurrency(
            default_target(self.targets, config.replay.target), config)

    def compose(self) -> ComposeResult:
        defaults = self.config.replay
        with Vertical(id="replay-form", classes="form"):
            yield Static(f"Replay {plural(self.requests, 'request')}", classes="form-title")
            summary = Text("Edits applied: ", style="bold")
            if not self.edits:
                summary.append("none (the requests are sent as recorded)", style="dim")
            for line in self.edits[:4]:
                summary.append("\n  ")
                summary.append_text(line if isinstance(line, Text) else Text(str(line)))
            if len(self.edits) > 4:
                summary.append(f"\n  … and {len(self.edits) - 4} more", style="dim")
            yield Static(summary, id="replay-edits")
            yield Label("Mode")
            with ModeSet(id="mode"):
                yield ModeButton("chained (use replayed outputs downstream)", value=True,
                                 id="mode-chained")
                yield ModeButton("isolated (each request on its own)", id="mode-isolated")
            yield Label("Target")
            yield Select(self._options(), value=self._default_key(), allow_blank=False,
                         id="target")
            yield Static("", id="target-note", markup=False)
            with Horizontal(id="replay-numbers"):
                with Vertical():
                    yield Label("Concurrency")
                    yield Input(str(self._concurrency_default), id="concurrency",
                                type="integer")
                with Vertical():
                    yield Label("Model override (empty: as recorded)")
                    yield Input(defaults.model or "", id="model")
            if self.tools:
                yield from self._tool_fields()
            with Horizontal(classes="form-buttons"):
                yield Button("Start replay", variant="primary", id="start")
                yield Button("Cancel", id="cancel")

    def _tool_fields(self) -> list[Any]:
        saved = self.config.replay.tools
        default = Input(saved.get("default", "error"), id="tools-default")
        default.tooltip = ("error, stub:TEXT, stub:@FILE, nearest, exec:COMMAND,"
                           " mcp:COMMAND, llm or stop")
        extra = Input("10", id="max-extra-turns", type="integer")
        extra.tooltip = "rounds a replayed agent may take beyond the recording, per branch"
        lines = "\n".join(f"{name} = {saved.get(name, '')}".rstrip() for name in self.tools)
        area = TextArea(lines, id="tool-rules")
        area.tooltip = "one tool per line: NAME = RULE (empty: the default rule)"
        return [
            Label("Tool calls the recording cannot answer: default rule · max added rounds"),
            Horizontal(default, extra, id="tool-defaults"),
            area,
        ]

    def set_tools(self, tools: list[str]) -> None:
        """The session's tools became known after the form opened: add their rules."""
        if self.tools or not tools:
            return
        self.tools = list(tools)
        self.query_one("#replay-form").mount_all(
            self._tool_fields(), before=self.query_one(".form-buttons")
        )

    def _tool_settings(self) -> tuple[ToolSettings, dict[str, str]] | None:
        """The rules typed in the form, checked; None (with a notice) when one is malformed."""
        from core.replay.environment import RuleError, ToolSettings

        default = self.query_one("#tools-default", Input).value.strip() or "error"
        pairs: dict[str, str] = {}
        for line in self.query_one("#tool-rules", TextArea).text.splitlines():
            name, sep, rule = line.partition("=")
            if sep and name.strip() and rule.strip():
                pairs[name.strip()] = rule.strip()
        raw = self.query_one("#max-extra-turns", Input).value.strip() or "10"
        try:
            settings = ToolSettings.parse(default, list(pairs.items()), int(raw))
        except (RuleError, ValueError) as exc:
            self.notify(str(exc).splitlines()[0], severity="error")
            return None
        for warning in settings.warnings(self.tools):  # a typo, most likely; not a failure
            self.notify(warning, severity="warning")
        return settings, {"default": default, **pairs}

    def _options(self) -> list[tuple[str, str]]:
        return [(t.label, t.key) for t in self.targets]

    def _default_key(self) -> str:
        return default_target(self.targets, self.config.replay.target).key

    def on_mount(self) -> None:
        self._update_note()
        if not any(t.key in ("local", "base_url") for t in self.targets):
            self.probe_ollama()

    @work(exclusive=True, group="probe",
          description="checking the replay target", exit_on_error=False)
    async def probe_ollama(self) -> None:
        from core.local_model import aprobe_ollama

        url = await aprobe_ollama()
        if url and not any(t.key == "ollama" for t in self.targets):
            self.targets.insert(0, ollama_target(url))
            select = self.query_one("#target", Select)
            select.set_options(self._options())
            select.value = "ollama"
            self._update_note()

    def on_select_changed(self) -> None:
        # Follow the target's own default unless a number was typed.
        box = self.query_one("#concurrency", Input)
        new = default_concurrency(self._selected(), self.config)
        if box.value.strip() == str(self._concurrency_default):
            box.value = str(new)
        self._concurrency_default = new
        self._update_note()

    def _selected(self) -> TargetOption:
        key = self.query_one("#target", Select).value
        return next((t for t in self.targets if t.key == key), self.targets[-1])

    def _update_note(self) -> None:
        target = self._selected()
        note = f"→ requests go to: {target.label}"
        if target.local:
            note += "\n  it answers one request at a time, so concurrency defaults to 1"
        if not any(t.free for t in self.targets):
            note += "\n" + NOTHING_FREE
        self.query_one("#target-note", Static).update(note)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.action_cancel()

    def on_input_submitted(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        raw = self.query_one("#concurrency", Input).value.strip() or "8"
        try:
            concurrency = int(raw)
        except ValueError:
            concurrency = 0
        if not 1 <= concurrency <= 64:
            self.notify("concurrency must be between 1 and 64", severity="error")
            return
        target = self._selected()
        mode = "isolated" if self.query_one("#mode-isolated", RadioButton).value else "chained"
        model = self.query_one("#model", Input).value.strip() or None
        choice = ReplaySettings(target=target, mode=mode, concurrency=concurrency, model=model)
        if self.tools:
            checked = self._tool_settings()
            if checked is None:
                return
            tools, rules = checked
            choice = choice.model_copy(update={"tools": tools})
            # Saved where the app's config lives (nowhere when it runs without one, or on the
            # demo's data).
            path = getattr(self.app, "_config_path", None)
            if not getattr(self.app, "save_settings", True):
                path = None
            if path is not None and rules != self.config.replay.tools and (
                rules != {"default": "error"} or self.config.replay.tools
            ):
                from tui.config import save_replay_tools

                problem = save_replay_tools(rules, path)
                if problem:
                    self.notify(problem, severity="warning")
            self.config.replay.tools = rules
        self.dismiss(choice)

    copy_what = "the replay target"

    def copy_text(self) -> str:
        return self._selected().copy_text()

    def action_cancel(self) -> None:
        self.dismiss(None)

"""The replay form: mode, target, concurrency and model override; the target is always shown.

Target resolution: the local model when installed, else a configured OpenAI-compatible
endpoint, else Ollama on loopback; the original providers (with their API keys from the
environment) are always offered, and the form says plainly when nothing free is available.
"""

from __future__ import annotations

import os
from typing import Any

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

from tui.config import Config
from tui.navigation import Modal
from tui.widgets.text import plural

NOTHING_FREE = (
    "No local model or endpoint found: install the local model (`reprise serve-local`"
    " explains how), start Ollama, or set [replay] base_url in config.toml."
)


def base_targets(config: Config) -> list[dict[str, Any]]:
    """Targets known without network probes, best first."""
    targets: list[dict[str, Any]] = []
    try:
        from core.local_model import local_runtime_available

        if local_runtime_available():
            targets.append(
                {"key": "local", "via": "local", "local": True,
                 "label": "local SmolLM2 model (loopback, no key)"}
            )
    except Exception:  # an unusable local install only removes the option
        pass
    replay = config.replay
    if replay.base_url:
        key = f", key from ${replay.api_key_env}" if replay.api_key_env else ""
        targets.append(
            {"key": "base_url", "via": replay.base_url, "api_key_env": replay.api_key_env,
             "label": f"{replay.base_url}{key}"}
        )
    keys = [k for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY") if os.environ.get(k)]
    have = " + ".join(f"${k}" for k in keys) if keys else "no API key set"
    targets.append({"key": "original", "via": "original",
                    "label": f"original providers ({have})"})
    if os.environ.get("HELICONE_API_KEY"):
        targets.append({"key": "helicone", "via": "helicone",
                        "label": "Helicone proxy (logged as a new session)"})
    return targets


LOCAL_CONCURRENCY = 1  # the local model server answers one request at a time


def default_concurrency(target: dict[str, Any], config: Config) -> int:
    """What the target serves at once: more requests to the local model would only queue
    (and their queueing would count as latency)."""
    return LOCAL_CONCURRENCY if target.get("local") else config.replay.concurrency


class ModeButton(RadioButton):
    """A radio button whose dot is drawn only when chosen: on and off never look alike."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 (Textual's attribute name)
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


class ReplayForm(Modal[dict[str, Any] | None]):
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
            next((t for t in self.targets if t["key"] == self._default_key()), {}), config)

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

    def _tool_settings(self) -> tuple[Any, dict[str, str]] | None:
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
        return settings, {"default": default, **pairs}

    def _options(self) -> list[tuple[str, str]]:
        return [(t["label"], t["key"]) for t in self.targets]

    def _default_key(self) -> str:
        wanted = self.config.replay.target
        keys = [t["key"] for t in self.targets]
        if wanted in keys:
            return wanted
        return keys[0]

    def on_mount(self) -> None:
        self._update_note()
        if not any(t["key"] in ("local", "base_url") for t in self.targets):
            self.probe_ollama()

    @work(exclusive=True, group="probe", exit_on_error=False)
    async def probe_ollama(self) -> None:
        from core.local_model import aprobe_ollama

        url = await aprobe_ollama()
        if url and not any(t["key"] == "ollama" for t in self.targets):
            self.targets.insert(0, {"key": "ollama", "via": url, "label": f"Ollama at {url}"})
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

    def _selected(self) -> dict[str, Any]:
        key = self.query_one("#target", Select).value
        return next((t for t in self.targets if t["key"] == key), self.targets[-1])

    def _update_note(self) -> None:
        target = self._selected()
        note = f"→ requests go to: {target['label']}"
        if target.get("local"):
            note += "\n  it answers one request at a time, so concurrency defaults to 1"
        if not any(t["key"] in ("local", "base_url", "ollama") for t in self.targets):
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
        choice = {**target, "mode": mode, "concurrency": concurrency, "model": model}
        if self.tools:
            checked = self._tool_settings()
            if checked is None:
                return
            choice["tools"], rules = checked
            # Saved where the app's config lives (nowhere when it runs without one).
            path = getattr(self.app, "_config_path", None)
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
        target = self._selected()
        return target["via"] if target["via"] != "local" else target["label"]

    def action_cancel(self) -> None:
        self.dismiss(None)

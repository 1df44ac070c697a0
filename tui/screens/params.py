"""Model and temperature overrides for a prompt id (or one request)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from core.edits import ParamEdit
from tui.navigation import Modal


class ParamsScreen(Modal[ParamEdit | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="params.cancel",
                tooltip="Close without changing the overrides"),
        Binding("ctrl+s,f2", "save", "Save", priority=True, id="params.save",
                tooltip="Keep these overrides for the next replay"),
    ]

    def __init__(self, scope: str, target: str, current: ParamEdit | None) -> None:
        super().__init__()
        self.scope = scope
        self.target = target
        self.current = current

    def compose(self) -> ComposeResult:
        where = f"prompt id {self.target}" if self.scope == "prompt" else f"request {self.target}"
        with Vertical(id="params-box", classes="form"):
            yield Static(f"Overrides for {where}", classes="form-title", markup=False)
            yield Label("Model (empty: as recorded)")
            yield Input(
                (self.current.model or "") if self.current else "", id="param-model"
            )
            yield Label("Temperature (empty: as recorded)")
            temp = self.current.temperature if self.current else None
            yield Input("" if temp is None else str(temp), id="param-temperature")
            with Horizontal(classes="form-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def on_input_submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        model = self.query_one("#param-model", Input).value.strip() or None
        raw = self.query_one("#param-temperature", Input).value.strip()
        try:
            temperature = float(raw) if raw else None
        except ValueError:
            self.notify("temperature must be a number", severity="error")
            return
        if temperature is not None and not 0 <= temperature <= 2:
            self.notify("temperature must be between 0 and 2", severity="error")
            return
        self.dismiss(
            ParamEdit(scope=self.scope, target=self.target, model=model, temperature=temperature)
        )

    def action_cancel(self) -> None:
        self.dismiss(None)

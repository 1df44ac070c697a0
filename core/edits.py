"""Edits a replay applies, kept as data so a replay can be saved, shown and resumed.

System-prompt edits target every request with a prompt id (`*`: every request), or one
request; parameter edits
(model, temperature, top_p, max_tokens) target all requests, a prompt id, or one request.
Applying edits always returns a new body: recorded bodies are never mutated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from core.formats import detect_format, request_format, request_url
from core.models import LoggedRequest

Scope = Literal["all", "prompt", "request"]
EVERY_PROMPT = "*"  # a prompt-scoped edit with this target applies to every request


class SystemEdit(BaseModel):
    scope: Literal["prompt", "request"] = "prompt"
    target: str  # a prompt id or a request id, per scope
    text: str
    mode: Literal["replace", "append"] = "replace"

    def applies_to(self, request: LoggedRequest) -> bool:
        return _matches(self.scope, self.target, request)


class ParamEdit(BaseModel):
    scope: Scope = "all"
    target: str | None = None
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None

    def applies_to(self, request: LoggedRequest) -> bool:
        return _matches(self.scope, self.target, request)

    def values(self) -> dict[str, Any]:
        return {
            key: value
            for key in ("model", "temperature", "top_p", "max_tokens")
            if (value := getattr(self, key)) is not None
        }


class EditSet(BaseModel):
    system: list[SystemEdit] = Field(default_factory=list)
    params: list[ParamEdit] = Field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.system and not self.params

    def touches(self, request: LoggedRequest) -> bool:
        return any(e.applies_to(request) for e in self.system) or any(
            p.applies_to(request) for p in self.params)

    def set_system(self, edit: SystemEdit) -> EditSet:
        """Add an edit, replacing any earlier edit with the same scope and target."""
        kept = [e for e in self.system if (e.scope, e.target) != (edit.scope, edit.target)]
        return self.model_copy(update={"system": [*kept, edit]})

    def remove_system(self, scope: str, target: str) -> EditSet:
        kept = [e for e in self.system if (e.scope, e.target) != (scope, target)]
        return self.model_copy(update={"system": kept})

    def system_edit_for(self, request: LoggedRequest) -> SystemEdit | None:
        """The edit that wins for this request: a request-scoped edit beats a prompt one."""
        by_request = [e for e in self.system if e.scope == "request" and e.applies_to(request)]
        if by_request:
            return by_request[-1]
        by_prompt = [e for e in self.system if e.scope == "prompt" and e.applies_to(request)]
        # A prompt id named explicitly beats `*`.
        named = [e for e in by_prompt if e.target != EVERY_PROMPT]
        by_prompt = named or by_prompt
        return by_prompt[-1] if by_prompt else None

    def effective_system(self, request: LoggedRequest) -> tuple[str | None, str]:
        """The system prompt this request would be sent with (None: as recorded) and where
        the winning edit applies (`prompt ID`, `this request`). An append is shown joined to
        the recorded prompt, as the replay sends it."""
        edit = self.system_edit_for(request)
        if edit is None:
            return None, ""
        where = f"prompt {edit.target}" if edit.scope == "prompt" else "this request"
        if edit.mode != "append":
            return edit.text, where
        fmt = request_format(request)
        recorded = "\n".join(fmt.system_prompts(request.request_body)) if fmt else ""
        return recorded + edit.text, where

    def params_for(self, scope: Scope, target: str | None) -> ParamEdit | None:
        return next((p for p in self.params if (p.scope, p.target) == (scope, target)), None)

    def set_params(self, scope: Scope, target: str | None, edit: ParamEdit | None) -> EditSet:
        """The parameter edit of one scope and target replaced (None, or no values: removed)."""
        kept = [p for p in self.params if (p.scope, p.target) != (scope, target)]
        if edit is not None and edit.values():
            kept.append(edit)
        return self.model_copy(update={"params": kept})

    def without_params_at(self, index: int) -> EditSet:
        return self.model_copy(update={"params": [
            p for i, p in enumerate(self.params) if i != index]})

    def apply(self, request: LoggedRequest, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The body to send for `request` (or for `body`, e.g. after chained substitution)."""
        source = request.request_body if body is None else body
        if not isinstance(source, dict):
            raise ValueError(f"request {request.id} has no JSON body to edit")
        result = dict(source)
        fmt = detect_format(result, request.provider, request_url(request))
        edit = self.system_edit_for(request)
        if edit is not None:
            if fmt is None:
                raise ValueError(f"request {request.id}: unknown format, cannot edit its system")
            result = fmt.with_system(result, edit.text, append=edit.mode == "append")
        for param in self.params:
            if param.applies_to(request):
                # Each format keeps sampling settings in its own fields (Gemini: generationConfig).
                result = (
                    fmt.with_params(result, param.values())
                    if fmt is not None
                    else {**result, **param.values()}
                )
        return result


def _matches(scope: str, target: str | None, request: LoggedRequest) -> bool:
    if scope == "all":
        return True
    if scope == "prompt":
        if target == EVERY_PROMPT:
            return True
        return request.prompt_id is not None and request.prompt_id == target
    return request.id == target

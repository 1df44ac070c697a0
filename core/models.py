"""The nouns of reprise: logged requests and the sessions they form.

`LoggedRequest` is the one normalized shape every source (Helicone API rows in all their
variants, export files, the local store) is turned into. Raw bodies are kept untouched so a
replay can send exactly what was recorded, edits aside.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.parsing import parse_float, parse_int, parse_time

SESSION_ID = "Helicone-Session-Id"
SESSION_NAME = "Helicone-Session-Name"
SESSION_PATH = "Helicone-Session-Path"
PROMPT_ID = "Helicone-Prompt-Id"
SESSION_KEYS = {SESSION_ID, SESSION_NAME, SESSION_PATH, PROMPT_ID}

HELICONE_PLACEHOLDER_KEY = "helicone_message"
NULL_UUID = "00000000-0000-0000-0000-000000000000"

BodyState = Literal["full", "preview", "missing"]


class RowError(ValueError):
    """A source row that cannot become a LoggedRequest; the message names the problem."""


class LoggedRequest(BaseModel):
    """One recorded LLM call, normalized from whatever shape it was logged in."""

    model_config = ConfigDict(frozen=False)

    id: str
    created_at: datetime
    response_at: datetime | None = None
    session_id: str | None = None
    session_name: str = ""
    session_path: str = "/"
    prompt_id: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)
    user_id: str | None = None
    provider: str = "unknown"
    model: str = "unknown"
    target_url: str | None = None
    request_url: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    time_to_first_token_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    # A logged cost that cannot be dollars (negative, or an integer that looks like Helicone's
    # internal micro-units): kept here as logged, never summed or shown as money.
    raw_cost: float | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    request_body: Any = None
    response_body: Any = None
    body_state: BodyState = "full"
    # Pre-signed storage URL for the real bodies; short-lived, never persisted.
    signed_body_url: str | None = Field(default=None, exclude=True)

    @property
    def ended_at(self) -> datetime:
        return self.response_at or self.created_at

    @property
    def is_streamed(self) -> bool:
        body = self.request_body
        return isinstance(body, dict) and bool(body.get("stream"))

    @classmethod
    def from_helicone_row(cls, row: Any) -> LoggedRequest:
        """Build from a `HeliconeRequest` row (query-clickhouse, S3 preview or legacy shape)."""
        if not isinstance(row, dict):
            raise RowError(f"expected an object, got {type(row).__name__}")
        request_id = row.get("request_id") or row.get("id")
        if not request_id or not isinstance(request_id, str):
            raise RowError("missing request_id")
        try:
            created = parse_time(row.get("request_created_at") or row.get("created_at"))
        except ValueError as exc:
            raise RowError(f"request_created_at: {exc}") from None
        if created is None:
            raise RowError("missing request_created_at")
        props_raw = row.get("request_properties") or row.get("properties") or {}
        if not isinstance(props_raw, dict):
            raise RowError("request_properties is not an object")
        props = {str(k): "" if v is None else str(v) for k, v in props_raw.items()}

        request_body, response_body, state = _bodies(row)
        try:
            cost = parse_float(row.get("cost"))
            if cost is None:
                cost = parse_float(row.get("costUSD"))
            values = dict(
                response_at=parse_time(row.get("response_created_at")),
                status=parse_int(row.get("response_status")),
                latency_ms=parse_float(row.get("delay_ms", row.get("latency"))),
                time_to_first_token_ms=parse_float(row.get("time_to_first_token")),
                prompt_tokens=parse_int(row.get("prompt_tokens")),
                completion_tokens=parse_int(row.get("completion_tokens")),
                total_tokens=parse_int(row.get("total_tokens")),
                cost=cost,
            )
        except ValueError as exc:
            raise RowError(str(exc)) from None
        values.update(_checked_numbers(values))

        prompt_id = props.get(PROMPT_ID) or _str_or_none(row.get("prompt_id"))
        if not prompt_id and isinstance(request_body, dict):
            prompt_id = _str_or_none(request_body.get("prompt_id"))
        model = (
            _str_or_none(row.get("model_override"))
            or _str_or_none(row.get("model"))
            or _str_or_none(row.get("request_model"))
            or (request_body.get("model") if isinstance(request_body, dict) else None)
            or _str_or_none(row.get("response_model"))
            or "unknown"
        )
        return cls(
            id=request_id,
            created_at=created,
            session_id=props.get(SESSION_ID) or None,
            session_name=props.get(SESSION_NAME, ""),
            session_path=normalize_path(props.get(SESSION_PATH)),
            prompt_id=prompt_id or None,
            properties={k: v for k, v in props.items() if k not in SESSION_KEYS},
            user_id=_str_or_none(row.get("request_user_id")),
            provider=str(row.get("provider") or "unknown"),
            model=str(model),
            target_url=_str_or_none(row.get("target_url")),
            request_url=_str_or_none(row.get("request_path")),
            scores=_scores(row.get("scores")),
            request_body=request_body,
            response_body=response_body,
            body_state=state,
            signed_body_url=_str_or_none(row.get("signed_body_url")),
            **values,
        )

    def with_signed_body(self, payload: Any) -> LoggedRequest:
        """Fill the real bodies from a signed-body object `{"request": …, "response": …}`."""
        if not isinstance(payload, dict) or "request" not in payload:
            raise RowError("signed body is not a {request, response} object")
        update: dict[str, Any] = {
            "request_body": payload.get("request"),
            "response_body": _strip_stream_data(payload.get("response")),
            "body_state": "full",
        }
        if not self.prompt_id and isinstance(payload.get("request"), dict):
            update["prompt_id"] = _str_or_none(payload["request"].get("prompt_id"))
        return self.model_copy(update=update)


class SessionSummary(BaseModel):
    """A session as the sessions list shows it, aggregated from its requests."""

    id: str
    name: str = ""
    started_at: datetime
    ended_at: datetime
    requests: int
    cost: float = 0.0
    total_tokens: int = 0
    replays: int = 0
    models: list[str] = Field(default_factory=list)
    source: str = "local"
    sessionless: bool = False  # one request logged without a session id; id = request id

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


def normalize_path(path: Any) -> str:
    """Session paths always start with `/`; a missing path means the root."""
    if path is None:
        return "/"
    text = str(path).strip()
    if not text:
        return "/"
    return text if text.startswith("/") else "/" + text


def is_placeholder(body: Any) -> bool:
    return isinstance(body, dict) and set(body) <= {HELICONE_PLACEHOLDER_KEY} and bool(body)


def _bodies(row: dict[str, Any]) -> tuple[Any, Any, BodyState]:
    request_body = row.get("request_body")
    response_body = row.get("response_body")
    real_request = isinstance(request_body, dict | list) and not is_placeholder(request_body)
    if real_request:
        return request_body, _strip_stream_data(response_body), "full"
    if isinstance(request_body, str) and request_body:
        # S3 rows carry a cleaned text preview; the real body is behind the signed URL.
        return request_body, response_body, "preview"
    return None, None if is_placeholder(response_body) else response_body, "missing"


def _strip_stream_data(body: Any) -> Any:
    """Helicone's `streamed_data` repeats the whole stream; reprise never needs it."""
    if isinstance(body, dict) and "streamed_data" in body:
        return {k: v for k, v in body.items() if k != "streamed_data"}
    return body


def _checked_numbers(values: dict[str, Any]) -> dict[str, Any]:
    """Derive a total of 0 from its known parts; set aside costs that cannot be dollars."""
    update: dict[str, Any] = {}
    prompt, completion = values.get("prompt_tokens"), values.get("completion_tokens")
    if not values.get("total_tokens") and (prompt or completion):
        update["total_tokens"] = max(prompt or 0, 0) + max(completion or 0, 0)
    cost = values.get("cost")
    if cost is not None and implausible_cost(cost):
        update["cost"] = None
        update["raw_cost"] = cost
    return update


def implausible_cost(cost: float) -> bool:
    """Negative, not finite, or a whole number of 100 or more: no single LLM call costs that
    many dollars, but Helicone's integer cost units (millionths and finer) look like it."""
    import math

    if not math.isfinite(cost) or cost < 0:
        return True
    return cost >= 100 and float(cost).is_integer()


def _scores(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        return {}
    scores: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, dict):  # legacy {"value": n, "valueType": "number"}
            value = value.get("value")
        if isinstance(value, bool):
            value = int(value)
        try:
            number = parse_float(value)
        except ValueError:
            continue
        if number is not None:
            scores[str(key)] = number
    return scores


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text or None

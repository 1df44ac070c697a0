"""The nouns of reprise: logged requests and the sessions they form.

`LoggedRequest` is the one normalized shape every source (Helicone API rows in all their
variants, export files, the local store) is turned into. Raw bodies are kept untouched so a
replay can send exactly what was recorded, edits aside.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from core.parsing import BadNumber, parse_float, parse_int, parse_time

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


# -- limits on what one row may hold (docs/reliability.md) -------------------------------
MAX_ID_CHARS = 256  # request and session ids
MAX_TEXT_CHARS = 8192  # names, paths, models, URLs, property values
MAX_BODY_STRING_CHARS = 16 << 20  # one string inside a body: 16 Mi characters
# JSON nesting inside a body. Real bodies (tool schemas included) stay far below; pydantic
# cannot serialize past 255 levels, and a replay result wraps the body in a few more.
MAX_DEPTH = 128
MAX_INT64 = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_problem(
    value: Any, where: str = "", *, max_string: int = MAX_BODY_STRING_CHARS
) -> str | None:
    """Why `value` is not JSON reprise can store, show and send again, or None when it is.

    Refused: nesting past MAX_DEPTH, lone surrogates (escaped `\\ud800` or undecodable
    bytes), strings past `max_string`, numbers out of range, non-JSON objects.
    """
    # Fast path at C speed: serialize once; only a suspect value gets the full walk.
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return _walk(value, where, max_string)
    if len(text) > max_string or _SURROGATE.search(text) or _too_deep(value):
        return _walk(value, where, max_string)
    return None


def _too_deep(value: Any) -> bool:
    """Whether containers nest past MAX_DEPTH (walks containers only, not their leaves)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _walk(value: Any, where: str, max_string: int) -> str | None:
    """The full walk: finds the first problem and names where it is."""
    # Iterative walk: (value, depth, key, parent entry); the path is built only on error.
    stack: list[tuple[Any, int, Any, Any]] = [(value, 0, None, None)]
    while stack:
        entry = stack.pop()
        item, depth = entry[0], entry[1]
        problem = None
        if isinstance(item, str):
            problem = _text_problem(item, max_string)
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                problem = f"nested deeper than {MAX_DEPTH} levels"
            elif isinstance(item, dict):
                for key, child in item.items():
                    key_problem = (
                        _text_problem(key, MAX_TEXT_CHARS)
                        if isinstance(key, str)
                        else "a key that is not text"
                    )
                    if key_problem:
                        return _at(_where(entry, where), f"key {_key(key)}: {key_problem}")
                    stack.append((child, depth + 1, key, entry))
            else:
                stack.extend((child, depth + 1, index, entry) for index, child in enumerate(item))
        elif isinstance(item, BadNumber):
            problem = f"{item!r} is out of range"
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                problem = "not a finite number"
        elif not (item is None or isinstance(item, bool | int)):
            problem = f"not JSON ({type(item).__name__})"
        if problem:
            return _at(_where(entry, where), problem)
    return None


def _at(where: str, problem: str) -> str:
    return f"{where}: {problem}" if where else problem


def _text_problem(text: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"text of {len(text):,} characters is over the limit of {limit:,}"
    if _SURROGATE.search(text):
        return "invalid UTF-8 or a lone surrogate (not valid Unicode)"
    return None


def _key(key: Any) -> str:
    text = json.dumps(str(key))
    return text if len(text) <= 40 else text[:39] + "…\""


def _where(entry: Any, root: str) -> str:
    parts: list[str] = []
    while entry is not None and entry[3] is not None:
        key = entry[2]
        parts.append(f"[{key}]" if isinstance(key, int) else f".{_key(key)[1:-1]}")
        entry = entry[3]
    path = (root + "".join(reversed(parts))).lstrip(".")
    return path if len(path) <= 90 else path[:40] + "…" + path[-40:]


def _checked_text(value: str | None) -> str | None:
    if value is not None and (problem := _text_problem(value, MAX_TEXT_CHARS)):
        raise ValueError(problem)
    return value


def _checked_json(value: Any) -> Any:
    if (problem := json_problem(value)) is not None:
        raise ValueError(problem)
    return value


def _checked_properties(value: dict[str, str]) -> dict[str, str]:
    if (problem := json_problem(value, "properties", max_string=MAX_TEXT_CHARS)) is not None:
        raise ValueError(problem)
    return value


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS), AfterValidator(_checked_text)]
Text = Annotated[str, AfterValidator(_checked_text)]
Count = Annotated[int, Field(ge=0, le=MAX_INT64)]  # token counts: non-negative, 64-bit
Finite = Annotated[float, Field(allow_inf_nan=False)]
Body = Annotated[Any, AfterValidator(_checked_json)]


class LoggedRequest(BaseModel):
    """One recorded LLM call, normalized from whatever shape it was logged in."""

    model_config = ConfigDict(frozen=False)

    id: Id
    created_at: datetime
    response_at: datetime | None = None
    session_id: Id | None = None
    session_name: Text = ""
    session_path: Text = "/"
    prompt_id: Text | None = None
    properties: Annotated[dict[str, str], AfterValidator(_checked_properties)] = Field(
        default_factory=dict
    )
    user_id: Text | None = None
    provider: Text = "unknown"
    model: Text = "unknown"
    target_url: Text | None = None
    request_url: Text | None = None
    status: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    latency_ms: Finite | None = None
    time_to_first_token_ms: Finite | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    total_tokens: Count | None = None
    cost: Finite | None = None
    # A logged cost that cannot be dollars (negative, or an integer that looks like Helicone's
    # internal micro-units): kept here as logged, never summed or shown as money.
    raw_cost: Finite | None = None
    scores: dict[Text, Finite] = Field(default_factory=dict)
    request_body: Body = None
    response_body: Body = None
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
        try:
            return cls._from_helicone_row(row)
        except ValidationError as exc:
            raise RowError(one_line_validation_error(exc)) from None
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            if isinstance(exc, RowError):
                raise
            raise RowError(f"cannot read this row ({' '.join(str(exc).split())[:200]})") from None

    @classmethod
    def _from_helicone_row(cls, row: Any) -> LoggedRequest:
        if not isinstance(row, dict):
            raise RowError(f"expected an object, got {json_kind(row)}")
        request_id = row.get("request_id") or row.get("id")
        if request_id and not isinstance(request_id, str):
            raise RowError(f"request_id must be a string, got {json_kind(request_id)}")
        if not request_id:
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
        cost = _field("cost", parse_float, row.get("cost"))
        if cost is None:
            cost = _field("costUSD", parse_float, row.get("costUSD"))
        values = dict(
            response_at=_field("response_created_at", parse_time, row.get("response_created_at")),
            status=_field("response_status", parse_int, row.get("response_status")),
            latency_ms=_field("delay_ms", parse_float, row.get("delay_ms", row.get("latency"))),
            time_to_first_token_ms=_field(
                "time_to_first_token", parse_float, row.get("time_to_first_token")
            ),
            prompt_tokens=_field("prompt_tokens", parse_int, row.get("prompt_tokens")),
            completion_tokens=_field(
                "completion_tokens", parse_int, row.get("completion_tokens")
            ),
            total_tokens=_field("total_tokens", parse_int, row.get("total_tokens")),
            cost=cost,
        )
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
        for key in ("request", "response"):
            if (problem := json_problem(payload.get(key), key)) is not None:
                raise RowError(problem)
        update: dict[str, Any] = {
            "request_body": payload.get("request"),
            "response_body": _strip_stream_data(payload.get("response")),
            "body_state": "full",
        }
        if not self.prompt_id and isinstance(payload.get("request"), dict):
            update["prompt_id"] = _str_or_none(payload["request"].get("prompt_id"))
        try:
            return type(self).model_validate({**dict(self), **update})
        except ValidationError as exc:
            raise RowError(one_line_validation_error(exc)) from None


def one_line_validation_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error as `field: message` on one line."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return "invalid row"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "row"
    message = " ".join(str(first.get("msg", "invalid")).split())
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"[:300]


class SessionSummary(BaseModel):
    """A session as the sessions list shows it, aggregated from its requests."""

    id: str
    name: str = ""
    started_at: datetime
    ended_at: datetime
    requests: int
    cost: float | None = None  # None: no request has a cost (not $0)
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


def _field(name: str, parser: Any, value: Any) -> Any:
    try:
        return parser(value)
    except ValueError as exc:
        raise RowError(f"{name}: {exc}") from None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text or None


def json_kind(value: Any) -> str:
    """What a JSON value is, in the words of the person who wrote the file."""
    if isinstance(value, BadNumber):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"

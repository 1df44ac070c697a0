"""OTLP trace data (JSON or protobuf) decoded into validated spans.

OTLP/JSON is what the OpenTelemetry collector's file exporter writes (one
`ExportTraceServiceRequest` document per line) and what `/v1/traces` receives as
`application/json`; protobuf is the default of the OTLP/HTTP exporters. Both become the same
`Span` models: attribute values are turned into plain Python values (`AnyValue` arrays and
key-value lists into lists and dicts), ids into lower-case hex.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

MAX_DEPTH = 64
MAX_ATTRIBUTES = 100_000
_HEX = re.compile(r"[0-9a-fA-F]+")


class OtlpError(ValueError):
    """Input that is not OTLP trace data; the message says what is wrong."""


class SpanEvent(BaseModel):
    name: str = Field(default="", max_length=1000)
    time: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)


class Span(BaseModel):
    trace_id: str = Field(min_length=1, max_length=64)
    span_id: str = Field(min_length=1, max_length=32)
    parent_id: str | None = Field(default=None, max_length=32)
    name: str = Field(default="", max_length=10_000)
    start: datetime | None = None
    end: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    events: list[SpanEvent] = Field(default_factory=list, max_length=MAX_ATTRIBUTES)
    resource: dict[str, Any] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    status_code: int = 0  # 0 unset, 1 ok, 2 error
    status_message: str = Field(default="", max_length=100_000)


def is_otlp_document(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(
        document.get("resourceSpans", document.get("resource_spans")), list
    )


def spans_from_json(document: Any) -> tuple[list[Span], list[str]]:
    """Spans of one `ExportTraceServiceRequest` in OTLP/JSON; bad spans become errors."""
    if not is_otlp_document(document):
        raise OtlpError("not an OTLP traces document (no resourceSpans list)")
    spans: list[Span] = []
    errors: list[str] = []
    for r_index, resource_spans in enumerate(_get(document, "resourceSpans") or []):
        if not isinstance(resource_spans, dict):
            errors.append(f"resourceSpans[{r_index}] is not an object")
            continue
        resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
        scopes = _get(resource_spans, "scopeSpans") or _get(resource_spans,
                                                            "instrumentationLibrarySpans") or []
        for s_index, scope_spans in enumerate(scopes if isinstance(scopes, list) else []):
            if not isinstance(scope_spans, dict):
                continue
            for index, raw in enumerate(scope_spans.get("spans") or []):
                where = f"resourceSpans[{r_index}].scopeSpans[{s_index}].spans[{index}]"
                try:
                    spans.append(_span(raw, resource))
                except (OtlpError, ValidationError, ValueError, TypeError) as exc:
                    errors.append(f"{where}: {_one_line(exc)}")
    return spans, errors


def spans_from_protobuf(data: bytes) -> tuple[list[Span], list[str]]:
    """Spans of a protobuf `ExportTraceServiceRequest` (the OTLP/HTTP default)."""
    try:
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
    except ImportError:
        raise OtlpError(
            "protobuf OTLP needs the [record] extra (pip install 'reprise-tui[record]')"
        ) from None
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise OtlpError(f"not a protobuf ExportTraceServiceRequest ({exc})") from None
    document = MessageToDict(message)
    document.setdefault("resourceSpans", [])
    return spans_from_json(document)


def _get(obj: Any, camel: str) -> Any:
    """OTLP/JSON uses lowerCamelCase; accept the proto field names as well."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return obj.get(snake)


def _span(raw: Any, resource: dict[str, Any]) -> Span:
    if not isinstance(raw, dict):
        raise OtlpError("span is not an object")
    trace_id = _id(_get(raw, "traceId"), 16)
    span_id = _id(_get(raw, "spanId"), 8)
    if not trace_id or not span_id:
        raise OtlpError("span has no traceId or spanId")
    status = inner if isinstance(inner := raw.get("status"), dict) else {}
    code = status.get("code", 0)
    if isinstance(code, str):
        code = {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, 0)
    events = []
    for event in raw.get("events") or []:
        if isinstance(event, dict):
            events.append(SpanEvent(
                name=str(event.get("name") or ""),
                time=_nanos(_get(event, "timeUnixNano")),
                attributes=_attributes(event.get("attributes")),
            ))
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=_id(_get(raw, "parentSpanId"), 8) or None,
        name=str(raw.get("name") or ""),
        start=_nanos(_get(raw, "startTimeUnixNano")),
        end=_nanos(_get(raw, "endTimeUnixNano")),
        attributes=_attributes(raw.get("attributes")),
        events=events,
        resource=resource,
        status_code=int(code) if isinstance(code, int) else 0,
        status_message=str(status.get("message") or ""),
    )


def _id(value: Any, size: int) -> str:
    """Hex ids (OTLP/JSON) or base64 (protobuf's JSON mapping) to lower-case hex."""
    if not value or not isinstance(value, str):
        return ""
    if len(value) == size * 2 and _HEX.fullmatch(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return raw.hex()
    if _HEX.fullmatch(value) and len(value) <= size * 2:
        return value.lower()
    raise OtlpError(f"id {value[:40]!r} is neither hex nor base64 of {size} bytes")


def _nanos(value: Any) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    try:
        nanos = int(value)
    except (TypeError, ValueError):
        raise OtlpError(f"time {str(value)[:40]!r} is not a number of nanoseconds") from None
    try:
        return datetime.fromtimestamp(nanos / 1e9, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise OtlpError(f"time {nanos} is out of range") from None


def _attributes(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, list):
        return {}
    result: dict[str, Any] = {}
    for item in raw[:MAX_ATTRIBUTES]:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            result[item["key"]] = any_value(item.get("value"))
    return result


def any_value(value: Any, depth: int = 0) -> Any:
    """An OTLP `AnyValue` as a plain Python value."""
    if depth > MAX_DEPTH:
        raise OtlpError("attribute value nested too deeply")
    if not isinstance(value, dict):
        return value
    if "stringValue" in value or "string_value" in value:
        return str(_get(value, "stringValue"))
    if "boolValue" in value or "bool_value" in value:
        return bool(_get(value, "boolValue"))
    if "intValue" in value or "int_value" in value:
        try:
            return int(_get(value, "intValue"))
        except (TypeError, ValueError):
            raise OtlpError("intValue is not an integer") from None
    if "doubleValue" in value or "double_value" in value:
        try:
            return float(_get(value, "doubleValue"))
        except (TypeError, ValueError):
            raise OtlpError("doubleValue is not a number") from None
    if "arrayValue" in value or "array_value" in value:
        items = (_get(value, "arrayValue") or {}).get("values") or []
        return [any_value(item, depth + 1) for item in items]
    if "kvlistValue" in value or "kvlist_value" in value:
        items = (_get(value, "kvlistValue") or {}).get("values") or []
        return {
            str(item.get("key")): any_value(item.get("value"), depth + 1)
            for item in items
            if isinstance(item, dict)
        }
    if "bytesValue" in value or "bytes_value" in value:
        return str(_get(value, "bytesValue"))
    return None


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return " ".join(str(exc).split())

"""`reprise import`: which format a file is in, and importing it.

Formats: `helicone` (exports, see `files.py`), `otel` (OTLP/JSON traces — one document, or
JSONL as the collector's file exporter writes it — with OpenTelemetry GenAI or OpenInference
spans), `openinference` (also Phoenix's JSONL span download) and `langfuse` (observations as
JSON, JSONL, an API page `{"data": [...], "meta": …}` or traces with their observations).
A file's format is read from its first record unless `--format` forces one. Each file is
written in one transaction; bad rows are reported as FILE:LINE and never stop good ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from core.models import LoggedRequest
from core.sources.calls import Call, to_request
from core.store import ImportCounts, Store, StoreError

FileFormat = Literal["helicone", "otel", "openinference", "langfuse"]
FORMATS: tuple[str, ...] = ("helicone", "otel", "openinference", "langfuse")


class _Records:
    """A file's top-level records with where each came from (`FILE:LINE` or `FILE: row N`)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.errors: list[str] = []


def _read_records(path: Path) -> _Records:
    """Records read by the one hardened reader (`core.sources.reader`): JSONL split on line
    breaks only, arrays element by element, bounded gzip, special files refused."""
    from core.sources.reader import display, read_json_file

    records = _Records()
    read = read_json_file(path)
    if read.items is not None:  # JSONL, an array, or a page's `data` (Langfuse's included)
        for item in read.items:
            if item.error is not None:
                records.errors.append(f"{item.where}: {item.error}")
            else:
                records.items.append((item.where, item.value))
        return records
    records.items = [(f"{display(path)}:1", read.document)]
    return records


def detect(first: Any) -> FileFormat:
    from core.sources import langfuse, openinference, otlp

    if otlp.is_otlp_document(first):
        return "otel"
    if openinference.is_phoenix_row(first):
        return "openinference"
    if langfuse.is_observation(first) or langfuse.is_trace(first):
        return "langfuse"
    return "helicone"


def sniff(path: Path) -> FileFormat:
    """The format of a file, from its first record; Helicone when nothing else matches."""
    from core.sources.files import ImportFileError

    try:
        records = _read_records(path)
    except ImportFileError:
        return "helicone"  # the Helicone importer reports the problem
    return detect(records.items[0][1]) if records.items else "helicone"


def calls_from_file(path: Path, fmt: FileFormat) -> tuple[list[Call], list[str]]:
    """Calls in a trace file (any non-Helicone format) and one-line errors for bad rows."""
    records = _read_records(path)
    errors = list(records.errors)
    if fmt == "langfuse":
        calls, more = _langfuse_calls(records)
    else:
        calls, more = _span_calls(records, fmt)
    return calls, errors + more


def _span_calls(records: _Records, fmt: FileFormat) -> tuple[list[Call], list[str]]:
    from core.sources import openinference, otlp
    from core.sources.spans import SpanIndex, calls_from_spans, one_line

    spans: list[otlp.Span] = []
    where_of: dict[str, str] = {}
    errors: list[str] = []
    for where, item in records.items:
        try:
            if otlp.is_otlp_document(item):
                found, bad = otlp.spans_from_json(item)
                errors.extend(f"{where}: {e}" for e in bad)
            elif fmt == "openinference" and openinference.is_phoenix_row(item):
                found = [openinference.span_from_phoenix_row(item)]
            else:
                kind = "an OTLP traces document" if fmt == "otel" else "a Phoenix span row"
                errors.append(f"{where}: not {kind}")
                continue
        except (otlp.OtlpError, ValidationError, ValueError, TypeError, RecursionError) as exc:
            errors.append(f"{where}: {one_line(exc)}")
            continue
        for span in found:
            where_of[span.span_id] = where
        spans.extend(found)
    calls, bad = calls_from_spans(spans, SpanIndex())
    for message in bad:
        span_id = message.split()[1] if message.startswith("span ") else ""
        errors.append(f"{where_of.get(span_id, 'spans')}: {message}")
    return calls, errors


def _langfuse_calls(records: _Records) -> tuple[list[Call], list[str]]:
    from core.sources import langfuse
    from core.sources.spans import one_line

    observations: list[tuple[str, langfuse.Observation]] = []
    traces: dict[str, langfuse.TraceInfo] = {}
    errors: list[str] = []
    for where, item in records.items:
        rows = [item]
        if langfuse.is_trace(item):
            traces[str(item["id"])] = langfuse.TraceInfo(
                name=str(item.get("name") or ""),
                session_id=str(item["sessionId"]) if item.get("sessionId") else None,
                user_id=str(item["userId"]) if item.get("userId") else None,
            )
            rows = [o for o in item["observations"] if isinstance(o, dict)]
            for row in rows:
                row.setdefault("traceId", item["id"])
        for row in rows:
            if not langfuse.is_observation(row):
                errors.append(f"{where}: not a Langfuse observation (needs id, traceId, type)")
                continue
            try:
                observations.append((where, langfuse.Observation.model_validate(row)))
            except ValidationError as exc:
                errors.append(f"{where}: {one_line(exc)}")
    by_id = {obs.id: obs for _, obs in observations}
    calls: list[Call] = []
    for where, obs in observations:
        if obs.type.upper() != "GENERATION":
            continue
        try:
            calls.append(langfuse.call_from_observation(obs, by_id, traces))
        except (ValidationError, ValueError, TypeError, RecursionError) as exc:
            errors.append(f"{where}: {one_line(exc)}")
    return calls, errors


def requests_from_calls(calls: list[Call], errors: list[str]) -> list[LoggedRequest]:
    from core.sources.spans import one_line

    requests = []
    for call in calls:
        try:
            requests.append(to_request(call))
        except (ValidationError, ValueError, TypeError) as exc:
            errors.append(f"call {call.id}: {one_line(exc)}")
    return requests


def import_paths(store: Store, paths: list[Path], fmt: FileFormat | None = None) -> ImportCounts:
    """Import each file in its own transaction, detecting its format unless one is given."""
    from core.sources.files import ImportFileError, import_files

    total = ImportCounts()
    for path in paths:
        chosen = fmt or sniff(path)
        if chosen == "helicone":
            total.add(import_files(store, [path]))
            continue
        try:
            calls, errors = calls_from_file(path, chosen)
            requests = requests_from_calls(calls, errors)
            counts = store.upsert_requests(requests)
        except ImportFileError as exc:
            total.errors.append(str(exc))
            continue
        except StoreError as exc:  # this file only: the next ones are still tried
            total.errors.append(f"{path}: not imported: {exc}")
            continue
        counts.errors.extend(errors)
        if not requests and not errors:
            counts.errors.append(f"{path}: no LLM calls found in this {chosen} file")
        total.add(counts)
    return total

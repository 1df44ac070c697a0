"""Import Helicone exports from files into the store.

Accepted, optionally gzipped: a JSON array of `HeliconeRequest` rows (`@helicone/export`),
JSONL of rows, a saved API page `{"data": [...], "error": null}`, and signed-body objects
`{"request": …, "response": …}` (matched by `request_id`, a file named after the request id,
or — for an S3 preview row — by its preview text). A bad row is reported with its file and
line or row number; every good row is imported; each file is written all-or-nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.formats import detect_format
from core.models import LoggedRequest, RowError
from core.sources.reader import (
    ImportFileError,
    JsonFile,
    display,
    read_bytes,
    read_json_file,
)
from core.store import ImportCounts, Store, StoreError

__all__ = ["ImportFileError", "import_files", "parse_file", "read_text"]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


@dataclass
class SignedBody:
    payload: dict[str, Any]
    request_id: str | None
    where: str


@dataclass
class ParsedFile:
    requests: list[LoggedRequest] = field(default_factory=list)
    signed_bodies: list[SignedBody] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0


def read_text(path: Path) -> str:
    """A whole (possibly gzipped) UTF-8 file as text, read under the reader's limits."""
    try:
        return read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{display(path)}: not UTF-8 text (byte {exc.start})") from None


def parse_file(path: Path) -> ParsedFile:
    """Read one export file into requests, signed bodies and per-row errors."""
    read = read_json_file(path)
    name = display(path)
    parsed = ParsedFile()
    if read.items is None:
        return _parse_document(path, read)
    document = read.document
    if read.page and isinstance(document, dict) and document.get("error"):
        raise ImportFileError(f"{name}: the saved API response is an error: {document['error']}")
    for item in read.items:
        if item.error is not None:
            parsed.errors.append(f"{item.where}: {item.error}")
        else:
            _take_item(parsed, item.value, item.where, path)
    return parsed


def _parse_document(path: Path, read: JsonFile) -> ParsedFile:
    name = display(path)
    document = read.document
    parsed = ParsedFile()
    if isinstance(document, dict) and "data" in document and "error" in document:
        if document.get("error"):
            raise ImportFileError(
                f"{name}: the saved API response is an error: {str(document['error'])[:200]}"
            )
        rows = document.get("data")
        if not isinstance(rows, list):
            raise ImportFileError(f"{name}: `data` is not a list of rows")
    elif isinstance(document, dict):
        if _is_signed_body(document) or "request_id" in document:
            rows = [document]
        elif document and all(
            isinstance(k, str) and _UUID.fullmatch(k) and _is_signed_body(v)
            for k, v in document.items()
        ):
            for request_id, payload in document.items():
                parsed.signed_bodies.append(SignedBody(payload, request_id, f"{name}:1: body {request_id}"))
            return parsed
        else:
            raise ImportFileError(
                f"{name}: not a Helicone export (expected a list of rows, JSONL, an API page"
                " or a signed body)"
            )
    else:
        raise ImportFileError(
            f"{name}: not a Helicone export (top level is {type(document).__name__})"
        )
    for index, item in enumerate(rows, start=1):
        _take_item(parsed, item, f"{name}:1: row {index}", path)
    return parsed


def _take_item(parsed: ParsedFile, item: Any, where: str, path: Path) -> None:
    if _is_signed_body(item):
        request_id = item.get("request_id") if isinstance(item.get("request_id"), str) else None
        if request_id is None:
            match = _UUID.search(path.name)
            request_id = match.group(0) if match else None
        parsed.signed_bodies.append(SignedBody(item, request_id, where))
        return
    if isinstance(item, dict) and "request_id" not in item and (
        "total_requests" in item or "session_count" in item
    ):
        # Session summaries (from /v1/session/query) carry no requests to import.
        parsed.skipped += 1
        return
    try:
        parsed.requests.append(LoggedRequest.from_helicone_row(item))
    except RowError as exc:
        parsed.errors.append(f"{where}: {exc}")
    except Exception as exc:  # a last line of defence: one row, never the file
        parsed.errors.append(f"{where}: unexpected error reading this row ({type(exc).__name__})")


def _is_signed_body(item: Any) -> bool:
    return isinstance(item, dict) and "request" in item and "response" in item and (
        "request_created_at" not in item
    )


def import_files(store: Store, paths: list[Path]) -> ImportCounts:
    """Import each file all-or-nothing (rows and signed bodies together); never raises.

    A file that cannot be read or stored is reported and the next file is imported.
    """
    total = ImportCounts()
    for path in paths:
        try:
            parsed = parse_file(path)
            pending = {r.id: r for r in parsed.requests}
            bodies: list[LoggedRequest] = []
            errors = list(parsed.errors)
            for signed in parsed.signed_bodies:
                target = _match_signed_body(store, pending, signed)
                if isinstance(target, str):
                    errors.append(f"{signed.where}: {target}")
                    continue
                try:
                    bodies.append(target.with_signed_body(signed.payload))
                except RowError as exc:
                    errors.append(f"{signed.where}: {exc}")
            counts = store.upsert_requests([*parsed.requests, *bodies])
        except ImportFileError as exc:
            total.errors.append(str(exc))
            continue
        except StoreError as exc:
            total.errors.append(f"{display(path)}: not imported: {exc}")
            continue
        except Exception as exc:  # a last line of defence: this file, never the next ones
            total.errors.append(
                f"{display(path)}: not imported: unexpected error ({type(exc).__name__})"
            )
            continue
        counts.skipped += parsed.skipped
        counts.errors.extend(errors)
        total.add(counts)
    return total


def _match_signed_body(
    store: Store, pending: dict[str, LoggedRequest], signed: SignedBody
) -> LoggedRequest | str:
    if signed.request_id:
        found = pending.get(signed.request_id) or store.get_request(signed.request_id)
        return found or f"no request {signed.request_id} to attach this body to; import its row first"
    candidates = _preview_candidates(store, signed.payload)
    if len(candidates) == 1:
        return candidates[0]
    return (
        "cannot tell which request this signed body belongs to; add a `request_id` field or"
        " name the file after the request id"
    )


def _preview_candidates(store: Store, payload: dict[str, Any]) -> list[LoggedRequest]:
    """Preview rows whose text previews agree with this body's request and response."""
    request, response = payload.get("request"), payload.get("response")
    fmt = detect_format(request)
    if fmt is None or not isinstance(request, dict):
        return []
    output = fmt.output(response).text.strip()
    user_text = " ".join(m.text for m in fmt.messages(request) if m.role == "user").strip()
    matches = []
    for request_id in store.preview_request_ids(str(request.get("model", ""))):
        candidate = store.get_request(request_id)
        if candidate is None:
            continue
        preview_out = candidate.response_body if isinstance(candidate.response_body, str) else ""
        preview_in = candidate.request_body if isinstance(candidate.request_body, str) else ""
        if _same_preview(preview_out, output) and _same_preview(preview_in, user_text):
            matches.append(candidate)
    return matches


def _same_preview(preview: str, text: str) -> bool:
    """Previews are cleaned and truncated: compare whitespace-collapsed prefixes."""
    a = " ".join(preview.split())
    b = " ".join(text.split())
    if not a or not b:
        return not a and not b
    shorter = min(len(a), len(b), 200)
    return a[:shorter] == b[:shorter]

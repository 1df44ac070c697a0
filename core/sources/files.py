"""Import Helicone exports from files into the store.

Accepted, optionally gzipped: a JSON array of `HeliconeRequest` rows (`@helicone/export`),
JSONL of rows, a saved API page `{"data": [...], "error": null}`, and signed-body objects
`{"request": …, "response": …}` (matched by `request_id`, a file named after the request id,
or — for an S3 preview row — by its preview text). A bad row is reported with its file and
line or row number; every good row is imported; each file is written all-or-nothing.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.formats import detect_format
from core.models import LoggedRequest, RowError
from core.store import ImportCounts, Store

MAX_FILE_BYTES = 1 << 30  # refuse anything over 1 GiB with a clear message
_TOO_DEEP = "invalid JSON (nested too deeply)"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


class ImportFileError(ValueError):
    """A file that cannot be read at all (the message names the file)."""


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
    """Read a (possibly gzipped) UTF-8 file, with errors that name it."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImportFileError(f"{path}: file is {size / 1e6:.0f} MB; the limit is 1 GiB")
        with path.open("rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ImportFileError(f"{path}: not a valid gzip file ({exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def parse_file(path: Path) -> ParsedFile:
    text = read_text(path)
    stripped = text.strip()
    if not stripped:
        raise ImportFileError(f"{path}: file is empty")
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as whole_error:
        if "\n" in stripped and stripped[0] == "{":
            return _parse_jsonl(path, text)
        raise ImportFileError(
            f"{path}:{whole_error.lineno}:{whole_error.colno}: invalid JSON ({whole_error.msg})"
        ) from None
    except RecursionError:
        if "\n" in stripped and stripped[0] == "{":
            return _parse_jsonl(path, text)
        raise ImportFileError(f"{path}: {_TOO_DEEP}") from None
    return _parse_document(path, document)


def _parse_jsonl(path: Path, text: str) -> ParsedFile:
    parsed = ParsedFile()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.errors.append(f"{path}:{number}: invalid JSON ({exc.msg})")
            continue
        except RecursionError:
            parsed.errors.append(f"{path}:{number}: {_TOO_DEEP}")
            continue
        _take_item(parsed, item, f"{path}:{number}", path)
    return parsed


def _parse_document(path: Path, document: Any) -> ParsedFile:
    parsed = ParsedFile()
    if isinstance(document, list):
        rows = document
    elif isinstance(document, dict) and "data" in document and "error" in document:
        if document.get("error"):
            raise ImportFileError(f"{path}: the saved API response is an error: {document['error']}")
        rows = document.get("data")
        if not isinstance(rows, list):
            raise ImportFileError(f"{path}: `data` is not a list of rows")
    elif isinstance(document, dict):
        if _is_signed_body(document) or "request_id" in document:
            rows = [document]
        elif document and all(
            _UUID.fullmatch(k) and _is_signed_body(v) for k, v in document.items()
        ):
            for request_id, payload in document.items():
                parsed.signed_bodies.append(SignedBody(payload, request_id, f"{path}: {request_id}"))
            return parsed
        else:
            raise ImportFileError(
                f"{path}: not a Helicone export (expected a list of rows, JSONL, an API page"
                " or a signed body)"
            )
    else:
        raise ImportFileError(f"{path}: not a Helicone export (top level is {type(document).__name__})")
    for index, item in enumerate(rows, start=1):
        _take_item(parsed, item, f"{path}: row {index}", path)
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


def _is_signed_body(item: Any) -> bool:
    return isinstance(item, dict) and "request" in item and "response" in item and (
        "request_created_at" not in item
    )


def import_files(store: Store, paths: list[Path]) -> ImportCounts:
    """Import each file in its own transaction; errors are collected, never raised."""
    total = ImportCounts()
    for path in paths:
        try:
            parsed = parse_file(path)
        except ImportFileError as exc:
            total.errors.append(str(exc))
            continue
        counts = store.upsert_requests(parsed.requests)
        counts.skipped += parsed.skipped
        counts.errors.extend(parsed.errors)
        pending = {r.id: r for r in parsed.requests}
        bodies: list[LoggedRequest] = []
        for signed in parsed.signed_bodies:
            target = _match_signed_body(store, pending, signed)
            if isinstance(target, str):
                counts.errors.append(f"{signed.where}: {target}")
                continue
            try:
                bodies.append(target.with_signed_body(signed.payload))
            except RowError as exc:
                counts.errors.append(f"{signed.where}: {exc}")
        if bodies:
            applied = store.upsert_requests(bodies)
            counts.updated += applied.updated + applied.imported
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
    if fmt is None:
        return []
    output = fmt.output(response).text.strip()
    user_text = " ".join(m.text for m in fmt.messages(request) if m.role == "user").strip()
    rows = store.execute(
        "SELECT id FROM requests WHERE body_state = 'preview' AND model = ?",
        (str(request.get("model", "")),),
    )
    matches = []
    for row in rows:
        candidate = store.get_request(row["id"])
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

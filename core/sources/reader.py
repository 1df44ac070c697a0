"""Read JSON export files from outside into located items, without ever raising mid-file.

One file gives a list of `Item`s, each a parsed value or a one-line error, each named by
`FILE:LINE`. JSONL is split on `\\n`, `\\r\\n` and `\\r` only (never on U+2028, U+2029 or
U+0085 inside strings), each line may start with a BOM and is decoded on its own, so a bad
byte or a broken line costs that line only. A JSON array is read element by element: a
broken or over-deep element is reported and the reader resumes at the next one. Gzip is
inflated in chunks under an absolute and a ratio limit. FIFOs, devices and directories are
refused without being opened for reading.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.parsing import loads, raw_decode

MAX_FILE_BYTES = 1 << 30  # 1 GiB, read or inflated
# Inflating may grow a file this many times over, beyond a floor every real export fits in.
MAX_GZIP_RATIO = 200
GZIP_RATIO_FLOOR = 64 << 20
_CHUNK = 1 << 20

_LINE = re.compile(rb"\r\n|\r|\n")
_BREAK = re.compile(r"\r\n|\r|\n")
_SPACE = re.compile(r"[ \t\r\n\ufeff]*")
# Strings (skipped whole) and structural characters, to find where a broken element ends.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.S)
_DATA_ARRAY = re.compile(r'"data"\s*:\s*\[')
_PAGE_OPENING = re.compile(rb'^\{\s*"(data|error)"\s*:')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ImportFileError(ValueError):
    """A file that cannot be read at all (the message names the file)."""


@dataclass
class Item:
    """One row of a file: a parsed value, or an error; `where` is `FILE:LINE` (+ row)."""

    where: str
    value: Any = None
    error: str | None = None


@dataclass
class JsonFile:
    """A read file: `items` for JSONL and arrays (and a page's rows), else `document`."""

    items: list[Item] | None = None
    document: Any = None
    page: bool = False  # items are the `data` rows of a saved API page


def display(path: Path) -> str:
    """A file name for a one-line message: control characters shown, never acted on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", str(path))


def read_bytes(path: Path) -> bytes:
    """The file's bytes, inflated when gzipped; refuses special files and oversized input."""
    name = display(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ImportFileError(f"{name}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(info.st_mode)
                else "a FIFO"
                if stat.S_ISFIFO(info.st_mode)
                else "a device or special file"
            )
            raise ImportFileError(f"{name}: is {kind}, not a file")
        if info.st_size > MAX_FILE_BYTES:
            raise ImportFileError(
                f"{name}: file is {info.st_size / 1e6:.0f} MB; the limit is"
                f" {MAX_FILE_BYTES / 1e6:.0f} MB"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImportFileError(f"{name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(name, raw)
    return raw


def _gunzip(name: str, raw: bytes) -> bytes:
    limit = min(MAX_FILE_BYTES, max(GZIP_RATIO_FLOOR, MAX_GZIP_RATIO * len(raw)))
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as inflating:
            while chunk := inflating.read(_CHUNK):
                out += chunk
                if len(out) > limit:
                    raise ImportFileError(
                        f"{name}: inflates to more than {limit / 1e6:.0f} MB from"
                        f" {len(raw) / 1e6:.1f} MB; refused as a possible gzip bomb"
                    )
    except (OSError, EOFError, zlib.error) as exc:
        detail = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise ImportFileError(f"{name}: corrupt gzip data ({detail})") from None
    return bytes(out)


def read_json_file(path: Path) -> JsonFile:
    """Read `path` as JSONL, a JSON array, an API page or one JSON document."""
    name = display(path)
    raw = read_bytes(path)
    start = _first_content(raw)
    if start < 0:
        raise ImportFileError(f"{name}: file is empty")
    text = raw.decode("utf-8", "surrogateescape")  # bad bytes reach the row check, not here
    text = text.lstrip("\ufeff")
    if raw[start : start + 1] == b"[":
        first = _SPACE.match(text).end()  # type: ignore[union-attr]
        return JsonFile(items=_array_items(text, first, name))
    try:
        if raw[start : start + 1] != b"{":
            raise json.JSONDecodeError("Expecting value", text, 0)
        document = loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        if _is_jsonl(raw, start):  # JSONL, perhaps with its first line damaged
            return JsonFile(items=_line_items(raw, name))
        rows = _page_rows(text, name)
        if rows is not None:
            return JsonFile(items=rows, page=True)
        if raw[start : start + 1] != b"{":
            raise ImportFileError(
                f"{name}: not a Helicone export (not JSON: it does not start with {{ or [)"
            ) from None
        raise ImportFileError(f"{name}:{_describe(exc)}") from None
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        rows = _page_rows(text, name)
        if rows is not None and len(rows) == len(document["data"]):
            return JsonFile(items=rows, document=document, page=True)
    return JsonFile(document=document)


def _first_content(raw: bytes) -> int:
    index = 0
    while True:
        while index < len(raw) and raw[index] in b" \t\r\n":
            index += 1
        if raw[index : index + 3] == b"\xef\xbb\xbf":
            index += 3
            continue
        return index if index < len(raw) else -1


def _is_jsonl(raw: bytes, start: int) -> bool:
    """JSONL when one of the first lines is a whole JSON object on its own (the first one may
    be the broken one) and the first line does not open a multi-line document."""
    first_break = _LINE.search(raw, start)
    if first_break is None:
        return False
    first = raw[start : first_break.start()].strip()
    if first == b"{" or _PAGE_OPENING.match(first):
        return False  # the first line opens a multi-line document (an object, a page)
    for number, line in enumerate(_LINE.split(raw[start : start + (1 << 24)])):
        if number >= 50:
            break
        line = line.strip(b" \t")
        while line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.startswith(b"{"):
            continue
        try:
            if isinstance(loads(line.decode("utf-8", "surrogateescape")), dict):
                return True
        except (json.JSONDecodeError, RecursionError):
            continue
    return False


def _line_items(raw: bytes, name: str) -> list[Item]:
    items: list[Item] = []
    number, position = 0, 0
    while position <= len(raw):
        match = _LINE.search(raw, position)
        end = match.start() if match else len(raw)
        line = raw[position:end]
        position = match.end() if match else len(raw) + 1
        number += 1
        while line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip(b" \t"):
            continue
        where = f"{name}:{number}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            items.append(Item(where, error=f"not UTF-8 text (byte {exc.start + 1} of the line)"))
            continue
        try:
            items.append(Item(where, loads(text)))
        except (json.JSONDecodeError, RecursionError) as exc:
            items.append(Item(where, error=_json_error(exc)))
    return items


class _Lines:
    """Line numbers of text offsets, counted incrementally (offsets only grow)."""

    def __init__(self, text: str) -> None:
        self.text, self.offset, self.line = text, 0, 1

    def at(self, offset: int) -> int:
        if offset > self.offset:
            self.line += len(_BREAK.findall(self.text, self.offset, offset))
            self.offset = offset
        return self.line


def _array_items(text: str, open_at: int, name: str) -> list[Item]:
    """Elements of the array opening at `open_at`; a broken element costs that one only."""
    items: list[Item] = []
    lines = _Lines(text)
    index = _skip(text, open_at + 1)
    if text.startswith("]", index):
        return items
    row = 0
    while True:
        row += 1
        where = f"{name}:{lines.at(index)}: row {row}"
        if index >= len(text):
            items.append(Item(where, error="the array is not closed (the file is cut short?)"))
            return items
        try:
            value, end = raw_decode(text, index)
            items.append(Item(where, value))
        except (json.JSONDecodeError, RecursionError) as exc:
            if isinstance(exc, json.JSONDecodeError):  # name the line of the fault itself
                where = f"{name}:{exc.lineno}: row {row}"
            items.append(Item(where, error=_json_error(exc)))
            # Too deep but well formed: skip it whole; broken: resume at the next whole row.
            end = _element_end(text, index) if isinstance(exc, RecursionError) else -1
            if end < 0:
                resume = _next_row(text, index)
                if resume < 0:
                    return items
                index = resume
                continue
        after = _skip(text, end)
        if text.startswith(",", after):
            index = _skip(text, after + 1)
            continue
        if text.startswith("]", after):
            return items
        if after >= len(text):
            items.append(Item(f"{name}:{lines.at(after)}", error="the array is not closed"))
            return items
        # Garbage after an element: report it, resume at the next whole row.
        items.append(Item(f"{name}:{lines.at(after)}", error="expected , or ] between rows"))
        resume = _next_row(text, after)
        if resume < 0:
            return items
        index = resume


def _element_end(text: str, index: int) -> int:
    """Offset of the `,` or `]` that ends the element starting at `index`, or -1."""
    depth = 0
    for match in _TOKEN.finditer(text, index):
        token = match.group(0)
        if token in "[{":
            depth += 1
        elif token in "]}":
            if depth == 0:
                return match.start() if token == "]" else -1
            depth -= 1
        elif token == "," and depth == 0:
            return match.start()
    return -1


_ROW_KEYS = frozenset({"request_id", "request_created_at", "response_id", "request", "response"})
_NEXT = re.compile(r",[ \t\r\n\ufeff]*\{")


def _next_row(text: str, index: int) -> int:
    """Offset of the next element after a broken one: a `{` after a `,` that parses as a row
    and is followed by `,` or the closing `]`; -1 when none is left."""
    for match in _NEXT.finditer(text, index):
        start = match.end() - 1
        try:
            value, end = raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            continue
        if not isinstance(value, dict) or not _ROW_KEYS & value.keys():
            continue
        after = _skip(text, end)
        # `]` only when little follows it: the file's end (or a page's `"error": null}`).
        if text.startswith(",", after) or (
            text.startswith("]", after) and len(text) - after < 200
        ):
            return start
    return -1


def _page_rows(text: str, name: str) -> list[Item] | None:
    match = _DATA_ARRAY.search(text)
    if match is None:
        return None
    return _array_items(text, match.end() - 1, name)


def _skip(text: str, index: int) -> int:
    return _SPACE.match(text, index).end()  # type: ignore[union-attr]


def _json_error(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "invalid JSON (nested too deeply)"
    assert isinstance(exc, json.JSONDecodeError)
    return f"invalid JSON ({exc.msg} at column {exc.colno})"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg})"
    return " invalid JSON (nested too deeply)"

"""A fake Helicone on loopback: the query API and signed-URL body storage, as real HTTP.

It implements the endpoints of the Helicone API contract that reprise uses, including the
quirks a client must survive: pages shortened by de-duplication after the LIMIT, numbers
serialised as strings, ClickHouse-style session timestamps, S3 rows whose inline bodies are
previews and whose signed URLs expire, the `{data, error}` envelope (also with 2xx), 201
success codes, 401 on a bad key and injected faults (429 + `Retry-After`, 5xx, bad JSON,
a server that dies half-way). Every request is recorded with its headers.

Usage::

    with FakeHelicone(latency_s=0.03) as server:
        server.add_session("s1", 20, s3_every=2)
        config = HeliconeConfig.from_env(server.api_key, base_url=server.url)
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "helicone"
TEST_KEY = "sk-helicone-test-7f3a9c1e5b2d4f60"
_CH_ALLOWED = {
    "filter",
    "offset",
    "limit",
    "sort",
    "isCached",
    "includeInputs",
    "isPartOfExperiment",
    "isScored",
}
_SESSION_REQUIRED = {"search", "timeFilter", "timezoneDifference", "filter"}
_S3_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


@dataclass
class Recorded:
    """One request as the fake received it (header names lower-cased)."""

    server: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    status: int
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clickhouse_time(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    )


def make_row(
    session_id: str,
    index: int,
    *,
    created: datetime,
    name: str = "Debate",
    s3: bool = False,
    model: str = "gpt-4o-mini",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A query-clickhouse row and its storage object `{request, response}`."""
    request_id = f"{secrets.token_hex(4)}-{index:04x}-4{secrets.token_hex(2)[1:]}-8{secrets.token_hex(2)[1:]}-{secrets.token_hex(6)}"
    prompt_id = "assistant-argument" if index % 2 else "argument-evaluation"
    user_text = f"Argument number {index} about carbon taxes in session {session_id}."
    answer = f"Counter-argument {index}: dividends return revenue to households."
    request_body = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You're a debating professional. Be concise."},
            {"role": "user", "content": user_text},
        ],
        "temperature": 0.7,
    }
    response_body = {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": int(created.timestamp()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 40 + index % 7, "completion_tokens": 20, "total_tokens": 60},
    }
    responded = created + timedelta(milliseconds=800)
    props = {
        "Helicone-Session-Id": session_id,
        "Helicone-Session-Name": name,
        "Helicone-Session-Path": f"/debate/turn-{index // 3 + 1}",
        "Helicone-Prompt-Id": prompt_id,
        "environment": "dev",
    }
    row: dict[str, Any] = {
        "response_id": f"resp-{request_id}",
        "response_body": response_body,
        "response_created_at": iso(responded),
        "response_status": 200,
        "request_id": request_id,
        "request_body": request_body,
        "request_created_at": iso(created),
        "request_user_id": "debate-user-42",
        "request_properties": dict(props),
        "properties": dict(props),
        "provider": "OPENAI",
        "delay_ms": 800,
        "request_model": model,
        "time_to_first_token": 0,
        "total_tokens": 60 + index % 7,
        "completion_tokens": 20,
        "prompt_tokens": 40 + index % 7,
        "scores": {},
        "target_url": "https://api.openai.com/v1/chat/completions",
        "cache_reference_id": "00000000-0000-0000-0000-000000000000",
        "cost": 0.00002,
        "prompt_id": "",
        "prompt_version": "",
        "updated_at": iso(responded),
        "storage_location": "s3" if s3 else "clickhouse",
        "model": model,
    }
    if s3:  # inline bodies of S3 rows are cleaned text previews
        row["request_body"], row["response_body"] = user_text, answer
    return row, {"request": request_body, "response": response_body}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.server.owner.handle(self, None)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.owner.handle(self, raw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many clients connect at once; the default backlog is 5

    def __init__(self, owner: _Base) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class _Base:
    """A loopback HTTP server in a background thread, recording every request."""

    name = "server"

    def __init__(self, *, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.recorded: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread: threading.Thread | None = None
        self.dead = False
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests handled at once: evidence of pipelining

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.dead = True
        self._server.shutdown()
        self._server.server_close()

    def handle(self, handler: _Handler, raw: bytes | None) -> None:
        parts = urlsplit(handler.path)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        record = Recorded(
            self.name,
            handler.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self._lock:
            self.recorded.append(record)
        if self.dead:
            handler.close_connection = True  # drop the connection without an answer
            return
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            status, headers, payload = self.route(record)
        finally:
            with self._lock:
                self.in_flight -= 1
        if status == 0:
            handler.close_connection = True
            return
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def route(self, record: Recorded) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


class FakeStorage(_Base):
    """Signed-URL object storage: each URL carries a token that can be expired."""

    name = "storage"

    def __init__(self, *, latency_s: float = 0.0) -> None:
        super().__init__(latency_s=latency_s)
        self.objects: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, str] = {}
        self._expired: set[str] = set()
        self.broken: set[str] = set()  # request ids whose object is gone (404)
        self.born_expired = 0  # this many next signed URLs are already expired

    def sign(self, request_id: str, base: str | None = None) -> str:
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens[token] = request_id
            if self.born_expired > 0:
                self.born_expired -= 1
                self._expired.add(token)
        return (
            f"{base or self.url}/organizations/org-1/requests/{request_id}"
            f"/request_response_body?X-Amz-Expires=1800&X-Amz-Signature={token}"
        )

    def expire_all(self) -> None:
        """Every URL signed so far now answers 403, like an S3 URL past its expiry."""
        with self._lock:
            self._expired.update(self._tokens)

    def route(self, record: Recorded) -> tuple[int, dict[str, str], bytes]:
        token = (record.query.get("X-Amz-Signature") or [""])[0]
        with self._lock:
            request_id = self._tokens.get(token)
            expired = token in self._expired
        if request_id is None or expired:
            return 403, {"Content-Type": "application/xml"}, _S3_DENIED
        if request_id in self.broken or request_id not in self.objects:
            return (
                404,
                {"Content-Type": "application/xml"},
                b"<Error><Code>NoSuchKey</Code></Error>",
            )
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps(self.objects[request_id]).encode(),
        )


class FakeHelicone(_Base):
    """The Helicone query API; storage is a second server unless `separate_storage=False`."""

    name = "api"

    def __init__(
        self,
        api_key: str = TEST_KEY,
        *,
        latency_s: float = 0.0,
        separate_storage: bool = True,
        string_numbers: bool = False,
        duplicate_every: int = 0,
        clickhouse: bool = True,
    ) -> None:
        super().__init__(latency_s=latency_s)
        self.api_key = api_key
        self.string_numbers = string_numbers
        self.duplicate_every = duplicate_every
        self.clickhouse = clickhouse  # False: an older server without query-clickhouse
        self.rows: list[dict[str, Any]] = []
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.kill_after_calls: int | None = None
        self.api_calls = 0
        self.storage = FakeStorage(latency_s=latency_s)
        self.separate_storage = separate_storage
        self._index: dict[str | None, list[dict[str, Any]]] = {}
        self._index_size = -1
        if not separate_storage:
            self.storage._server.server_close()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        if self.separate_storage:
            self.storage.start()

    def stop(self) -> None:
        super().stop()
        if self.separate_storage:
            self.storage.stop()

    def __enter__(self) -> FakeHelicone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def storage_base(self) -> str:
        return self.storage.url if self.separate_storage else self.url + "/storage"

    def all_recorded(self) -> list[Recorded]:
        return [*self.recorded, *(self.storage.recorded if self.separate_storage else [])]

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.recorded if r.path == path]

    # -- data ------------------------------------------------------------------------------
    def add_row(self, row: dict[str, Any], body: dict[str, Any] | None = None) -> None:
        row = dict(row)
        if body is not None:
            self.storage.objects[row["request_id"]] = body
        self.rows.append(row)

    def add_session(
        self,
        session_id: str,
        count: int,
        *,
        name: str = "Debate",
        s3_every: int = 0,
        start: datetime | None = None,
    ) -> list[str]:
        """`count` OpenAI chat rows one second apart; every `s3_every`-th stored in S3."""
        start = start or datetime.now(UTC) - timedelta(hours=2)
        ids = []
        for index in range(count):
            s3 = bool(s3_every) and index % s3_every == 0
            row, body = make_row(
                session_id, index, created=start + timedelta(seconds=index), name=name, s3=s3
            )
            self.add_row(row, body)
            ids.append(row["request_id"])
            if self.duplicate_every and index % self.duplicate_every == 0:
                # An older version of the same row that de-duplication will drop.
                old = dict(row, cost=0.0, updated_at=row["request_created_at"])
                self.rows.append(old)
        return ids

    def fail(
        self,
        path: str,
        status: int,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls to `path` answer with this instead."""
        self.faults[path].append(Fault(status, body, raw, headers or {}, times))

    def kill_after(self, calls: int) -> None:
        """After `calls` more API calls the server drops every connection unanswered."""
        self.kill_after_calls = self.api_calls + calls

    # -- routing ---------------------------------------------------------------------------
    def route(self, record: Recorded) -> tuple[int, dict[str, str], bytes]:
        if record.path.startswith("/storage/"):
            record.server = "storage"
            return self.storage.route(record)
        with self._lock:
            self.api_calls += 1
            if self.kill_after_calls is not None and self.api_calls > self.kill_after_calls:
                self.dead = True
                self.storage.dead = True
                return 0, {}, b""
            fault = self._take_fault(record.path)
        if fault is not None:
            if fault.raw is not None:
                return (
                    fault.status,
                    {"Content-Type": "application/json", **fault.headers},
                    fault.raw,
                )
            return (
                fault.status,
                {"Content-Type": "application/json", **fault.headers},
                json.dumps(fault.body).encode(),
            )
        auth = record.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            return self._json(401, {"data": None, "error": "Unauthorized"})
        try:
            if record.method == "POST" and record.path == "/v1/session/query":
                return self._session_query(record.body)
            if record.method == "POST" and record.path == "/v1/request/query-clickhouse":
                if not self.clickhouse:
                    return self._json(404, {"data": None, "error": "Not found"})
                return self._request_query(record.body, legacy=False)
            if record.method == "POST" and record.path == "/v1/request/query":
                return self._request_query(record.body, legacy=True)
            if record.method == "POST" and record.path == "/v1/request/query-ids":
                return self._query_ids(record.body)
            if record.method == "POST" and record.path.endswith("/score"):
                return self._json(201, {"data": None, "error": None})
            if record.method == "GET" and record.path.startswith("/v1/request/"):
                return self._get_request(record.path.rsplit("/", 1)[-1], record.query)
        except _BadRequest as exc:
            return self._json(400, {"data": None, "error": str(exc)})
        return self._json(404, {"data": None, "error": f"no route {record.method} {record.path}"})

    def _take_fault(self, path: str) -> Fault | None:
        queue = self.faults.get(path)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    @staticmethod
    def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    # -- endpoints -------------------------------------------------------------------------
    def _session_query(self, body: Any) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(body, dict) or not set(body) >= _SESSION_REQUIRED:
            raise _BadRequest(f"missing {sorted(_SESSION_REQUIRED - set(body or {}))}")
        window = body["timeFilter"]
        start = datetime.fromtimestamp(window["startTimeUnixMs"] / 1000, UTC)
        end = datetime.fromtimestamp(window["endTimeUnixMs"] / 1000, UTC)
        search = str(body.get("search") or "").lower()
        name_equals = body.get("nameEquals") or ""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self._deduped(self.rows):
            created = _time(row["request_created_at"])
            sid = row["request_properties"].get("Helicone-Session-Id")
            if sid and start < created < end:
                groups[sid].append(row)
        sessions = []
        for sid, rows in groups.items():
            name = rows[0]["request_properties"].get("Helicone-Session-Name", "")
            if search and search not in sid.lower() and search not in name.lower():
                continue
            if name_equals and name != name_equals:
                continue
            times = [_time(r["request_created_at"]) for r in rows]
            number = str if self.string_numbers else (lambda v: v)
            sessions.append(
                {
                    "session_id": sid,
                    "session_name": name,
                    "created_at": clickhouse_time(min(times)),
                    "latest_request_created_at": clickhouse_time(max(times)),
                    "total_cost": number(sum(float(r.get("cost") or 0) for r in rows)),
                    "total_requests": number(len(rows)),
                    "prompt_tokens": number(sum(int(r["prompt_tokens"]) for r in rows)),
                    "completion_tokens": number(sum(int(r["completion_tokens"]) for r in rows)),
                    "total_tokens": number(sum(int(r["total_tokens"]) for r in rows)),
                    "avg_latency": 800.0,
                }
            )
        sessions.sort(key=lambda s: s["created_at"], reverse=True)
        offset, limit = int(body.get("offset") or 0), int(body.get("limit") or 50)
        return self._json(200, {"data": sessions[offset : offset + limit], "error": None})

    def _request_query(self, body: Any, *, legacy: bool) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(body, dict) or "filter" not in body:
            raise _BadRequest("filter is required")
        if not legacy and set(body) - _CH_ALLOWED:
            raise _BadRequest(f"unknown keys {sorted(set(body) - _CH_ALLOWED)}")
        limit, offset = body.get("limit", 10), body.get("offset", 0)
        if not isinstance(limit, int) or not 0 <= limit <= 1000:
            return self._json(400, {"data": None, "error": "invalid limit"})
        if legacy and not 0 <= offset <= 10_000:
            return self._json(400, {"data": None, "error": "unsupport offset value"})
        sort = body.get("sort", {"created_at": "desc"})
        if not isinstance(sort, dict) or len(sort) != 1:
            raise _BadRequest("sort must have exactly one key")
        candidates = self._candidates(body["filter"])
        rows = [r for r in candidates if _matches(body["filter"], r, legacy=legacy)]
        if "isScored" in body:  # the documented trap: false hides every scored row
            rows = [r for r in rows if bool(r.get("scores")) == bool(body["isScored"])]
        descending = sort.get("created_at", "desc") == "desc"
        rows.sort(key=lambda r: r["request_created_at"], reverse=descending)
        window = rows[offset : offset + limit]
        if legacy:
            page = [self._legacy_view(r) for r in self._deduped(window)]
        else:
            page = [self._view(r) for r in self._deduped(window)]
            page.sort(key=lambda r: r["request_created_at"], reverse=descending)
        return self._json(201, {"data": page, "error": None})

    def _candidates(self, filter_: Any) -> list[dict[str, Any]]:
        """Rows that can match: the session's rows when the filter pins a session id."""
        session_id = _pinned_session(filter_)
        if session_id is None:
            return self.rows
        if self._index_size != len(self.rows):
            self._index = defaultdict(list)
            for row in self.rows:
                sid = (row.get("request_properties") or {}).get("Helicone-Session-Id")
                self._index[sid].append(row)
            self._index_size = len(self.rows)
        return list(self._index.get(session_id, []))

    def _query_ids(self, body: Any) -> tuple[int, dict[str, str], bytes]:
        ids = set(body.get("requestIds") or []) if isinstance(body, dict) else set()
        rows = [self._view(r) for r in self._deduped(self.rows) if r["request_id"] in ids]
        return self._json(200, {"data": rows, "error": None})

    def _get_request(self, request_id: str, query: dict[str, list[str]]):
        include = (query.get("includeBody") or ["false"])[0] == "true"
        for row in self._deduped(self.rows):
            if row["request_id"] == request_id:
                view = self._view(row)
                body = self.storage.objects.get(request_id)
                if include and row.get("storage_location") == "s3":
                    if body is None:
                        return self._json(
                            500, {"data": None, "error": "Error fetching request body"}
                        )
                    view["request_body"], view["response_body"] = body["request"], body["response"]
                return self._json(200, {"data": view, "error": None})
        return self._json(404, {"data": None, "error": "Request not found"})

    # -- row views -------------------------------------------------------------------------
    @staticmethod
    def _deduped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        best: dict[str, dict[str, Any]] = {}
        for row in rows:
            current = best.get(row["request_id"])
            if current is None or row["updated_at"] > current["updated_at"]:
                best[row["request_id"]] = row
        seen: set[str] = set()
        out = []
        for row in rows:
            if row["request_id"] not in seen:
                seen.add(row["request_id"])
                out.append(best[row["request_id"]])
        return out

    def _view(self, row: dict[str, Any]) -> dict[str, Any]:
        view = dict(row)
        if row.get("storage_location") == "s3":
            view["signed_body_url"] = self.storage.sign(row["request_id"], self.storage_base)
            view["asset_urls"] = {}
        if self.string_numbers:
            for key in ("prompt_tokens", "completion_tokens", "total_tokens", "delay_ms"):
                if view.get(key) is not None:
                    view[key] = str(view[key])
        return view

    def _legacy_view(self, row: dict[str, Any]) -> dict[str, Any]:
        placeholder = {
            "helicone_message": "fetching body from signed_url... contact"
            " engineering@helicone.ai for more information"
        }
        if row["request_id"] not in self.storage.objects:
            self.storage.objects[row["request_id"]] = {
                "request": row["request_body"],
                "response": row["response_body"],
            }
        keep = (
            "response_id",
            "response_created_at",
            "response_status",
            "request_id",
            "request_created_at",
            "request_user_id",
            "request_properties",
            "provider",
            "request_model",
            "delay_ms",
            "time_to_first_token",
            "total_tokens",
            "completion_tokens",
            "prompt_tokens",
            "model",
        )
        view = {k: row.get(k) for k in keep}
        view.update(
            request_body=placeholder,
            response_body=placeholder,
            request_path="https://oai.helicone.ai/v1/chat/completions",
            costUSD=row.get("cost"),
            prompt_id=row["request_properties"].get("Helicone-Prompt-Id"),
            signed_body_url=self.storage.sign(row["request_id"], self.storage_base),
        )
        return view


class _BadRequest(ValueError):
    pass


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str) and op in {"gte", "lte", "gt", "lt"}:
        actual, expected = _time(actual), _time(expected)
    if op == "equals":
        return actual == expected
    if op == "not-equals":
        return actual != expected
    if op == "gte":
        return actual >= expected
    if op == "lte":
        return actual <= expected
    if op == "gt":
        return actual > expected
    if op == "lt":
        return actual < expected
    if op in {"contains", "like", "ilike"}:
        return str(expected).strip("%").lower() in str(actual).lower()
    raise _BadRequest(f"unknown operator {op}")


def _match_fields(fields: Any, row: dict[str, Any]) -> bool:
    if not isinstance(fields, dict) or not fields:
        raise _BadRequest("bad filter leaf")
    for name, ops in fields.items():
        if name == "properties":
            for key, cond in ops.items():
                actual = (row.get("request_properties") or {}).get(key)
                if actual is None or not all(_compare(o, actual, v) for o, v in cond.items()):
                    return False
            continue
        for op, value in ops.items():
            if not _compare(op, row.get(name), value):
                return False
    return True


def _matches(node: Any, row: dict[str, Any], *, legacy: bool) -> bool:
    if node == "all" or node == {}:
        return True
    if not isinstance(node, dict):
        raise _BadRequest("bad filter")
    if "operator" in node:
        left = _matches(node["left"], row, legacy=legacy)
        right = _matches(node["right"], row, legacy=legacy)
        return left and right if node["operator"] == "and" else left or right
    if len(node) != 1:
        raise _BadRequest("a leaf has exactly one table")
    table, fields = next(iter(node.items()))
    if table == "request_response_rmt":
        return _match_fields(fields, row)
    if legacy and table == "properties":
        return _match_fields({"properties": fields}, row)
    if legacy and table == "request":
        renamed = {("request_created_at" if k == "created_at" else k): v for k, v in fields.items()}
        return _match_fields(renamed, row)
    return False  # e.g. a bare `properties` leaf on query-clickhouse: silently nothing


def _pinned_session(node: Any) -> str | None:
    """The session id an `and`-tree of leaves requires, if any (legacy or rmt leaf)."""
    if not isinstance(node, dict):
        return None
    if node.get("operator") == "and":
        return _pinned_session(node.get("left")) or _pinned_session(node.get("right"))
    leaf = node.get("request_response_rmt", {}).get("properties") or node.get("properties")
    if isinstance(leaf, dict):
        cond = leaf.get("Helicone-Session-Id")
        if isinstance(cond, dict) and isinstance(cond.get("equals"), str):
            return cond["equals"]
    return None


def fixture_rows() -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The shared hand-built fixture rows (with the S3 row's storage object), if present."""
    page = json.loads((FIXTURES / "request-query-clickhouse.page.json").read_text())
    signed = json.loads((FIXTURES / "signed-body.anthropic.json").read_text())
    out = []
    for row in page["data"]:
        row = dict(row)
        body = None
        if row.get("storage_location") == "s3":
            body = signed
            row.pop("signed_body_url", None)
        else:
            body = {"request": row["request_body"], "response": row["response_body"]}
        out.append((row, body))
    return out

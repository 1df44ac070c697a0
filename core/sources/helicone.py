"""Pull recorded sessions from the Helicone query API into the local store.

The client speaks the subset of Helicone's API reprise needs: the sessions list
(`POST /v1/session/query`), a session's requests (`POST /v1/request/query-clickhouse`, paged
until an empty page because the server de-duplicates after its LIMIT), the full bodies of
S3-stored rows (a plain GET of `signed_body_url`, never with the API key), and the fallbacks
the contract allows (`GET /v1/request/{id}?includeBody=true`, the legacy `/v1/request/query`).

Transient failures (429 honouring `Retry-After`, 5xx, timeouts, dropped connections) are
retried with backoff; everything else becomes a `HeliconeError` whose message is meant for
the user and never contains the API key. `pull` writes each session to the store as soon as
it is complete, so an interrupted pull keeps every finished session.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from core.models import SESSION_ID, LoggedRequest, RowError, SessionSummary, is_placeholder
from core.parsing import format_time, parse_float, parse_int, parse_time
from core.store import Store

Region = Literal["us", "eu"]
REGION_URLS: dict[str, str] = {
    "us": "https://api.helicone.ai",
    "eu": "https://eu.api.helicone.ai",
}
EU_KEY_PREFIX = "sk-helicone-eu-"
API_KEY_ENV = "HELICONE_API_KEY"
CALL_DEADLINE_FACTOR = 4  # one API call as a whole: at most 4x the per-wait timeout
MAX_PAGE = 1000  # the server rejects larger limits with "invalid limit"
LEGACY_MAX_OFFSET = 10_000
DEFAULT_SINCE = timedelta(days=7)
# The web app looks back 90 days for a session's requests; so do we unless asked for more.
REQUEST_LOOKBACK = timedelta(days=90)
AUTH_HINT = (
    "check HELICONE_API_KEY and the region (--region us|eu, EU keys start with sk-helicone-eu-)"
)


class HeliconeError(Exception):
    """A failure talking to Helicone; `str()` is a complete message for the user."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.endpoint = endpoint

    def __str__(self) -> str:
        return self.message


class HeliconeAuthError(HeliconeError):
    """The key was rejected (401/403): retrying or continuing cannot help."""


def resolve_region(api_key: str, region: str | None = None) -> Region:
    """An explicit region wins; otherwise EU keys (`sk-helicone-eu-…`) select the EU API."""
    if region:
        lowered = region.lower()
        if lowered not in REGION_URLS:
            raise HeliconeError(f"unknown Helicone region {region!r}; use us or eu")
        return lowered  # type: ignore[return-value]
    return "eu" if api_key.startswith(EU_KEY_PREFIX) else "us"


class HeliconeConfig(BaseModel):
    """Connection settings; the key is a SecretStr so reprs and dumps never show it."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr
    region: Region | None = None
    base_url: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 4
    retry_base_s: float = 0.5
    max_retry_after_s: float = 60.0
    session_concurrency: int = 8
    body_concurrency: int = 16
    page_size: int = Field(default=MAX_PAGE, ge=1, le=MAX_PAGE)
    sessions_page_size: int = Field(default=100, ge=1, le=1000)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("the Helicone URL must start with http:// or https://")
        from core.replay.transport import may_carry_key

        if not may_carry_key(value):
            raise ValueError("the Helicone URL must use https:// (plain http carries the key"
                             " only to this machine)")
        return value

    @classmethod
    def from_env(
        cls,
        api_key: str | None = None,
        *,
        region: str | None = None,
        base_url: str | None = None,
        **settings: Any,
    ) -> HeliconeConfig:
        """Build from arguments, reading the key from `HELICONE_API_KEY` when not given."""
        from core.keys import key_problem

        key = api_key or os.environ.get(API_KEY_ENV) or ""
        if not key:
            raise HeliconeError(
                f"{API_KEY_ENV} is not set; export your Helicone API key (sk-helicone-…)"
            )
        problem = key_problem(key)
        if problem is not None:
            raise HeliconeError(f"${API_KEY_ENV} {problem}; fix the variable and try again")
        try:
            return cls(
                api_key=SecretStr(key),
                region=resolve_region(key, region),
                base_url=base_url,
                **settings,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise HeliconeError(f"invalid Helicone settings: {problems}") from None

    @property
    def resolved_region(self) -> Region:
        return resolve_region(self.api_key.get_secret_value(), self.region)

    @property
    def api_url(self) -> str:
        return self.base_url or REGION_URLS[self.resolved_region]


class SessionFetch(BaseModel):
    """One session's requests as fetched, with what went wrong on the way."""

    session_id: str
    requests: list[LoggedRequest] = Field(default_factory=list)
    bodies_fetched: int = 0
    errors: list[str] = Field(default_factory=list)


class PullProgress(BaseModel):
    """A snapshot for progress bars; `sessions_total` grows as the listing is paged."""

    sessions_done: int = 0
    sessions_total: int = 0
    listing_done: bool = False
    requests: int = 0
    bodies_fetched: int = 0
    errors: int = 0


class PullReport(BaseModel):
    """The outcome of `pull`; `--json` prints the first four fields."""

    sessions: int = 0
    requests: int = 0
    bodies_fetched: int = 0
    errors: list[str] = Field(default_factory=list)
    added: int = Field(default=0, exclude=True)
    updated: int = Field(default=0, exclude=True)
    unchanged: int = Field(default=0, exclude=True)
    sessionless: int = Field(default=0, exclude=True)  # requests pulled without a session id


class _SessionRow(BaseModel):
    """A `SessionResult` row, tolerant of string numbers and both timestamp forms."""

    session_id: str
    session_name: str = ""
    created_at: datetime
    latest_request_created_at: datetime
    total_requests: int = 0
    total_cost: float | None = None  # not reported: unknown, not $0
    total_tokens: int = 0

    @classmethod
    def parse(cls, raw: Any) -> _SessionRow:
        if not isinstance(raw, dict):
            raise RowError(f"expected a session object, got {type(raw).__name__}")
        session_id = raw.get("session_id", raw.get("session"))
        if not session_id:
            raise RowError("session row without session_id")
        try:
            created = parse_time(raw.get("created_at"))
            latest = parse_time(raw.get("latest_request_created_at")) or created
            if created is None:
                raise RowError(f"session {session_id}: missing created_at")
            return cls(
                session_id=str(session_id),
                session_name=str(raw.get("session_name") or ""),
                created_at=created,
                latest_request_created_at=latest or created,
                total_requests=parse_int(raw.get("total_requests")) or 0,
                total_cost=parse_float(raw.get("total_cost")),
                total_tokens=parse_int(raw.get("total_tokens")) or 0,
            )
        except ValueError as exc:
            raise RowError(f"session {session_id}: {exc}") from None

    def summary(self) -> SessionSummary:
        return SessionSummary(
            id=self.session_id,
            name=self.session_name,
            started_at=self.created_at,
            ended_at=self.latest_request_created_at,
            requests=self.total_requests,
            cost=self.total_cost,
            total_tokens=self.total_tokens,
            source="helicone",
        )


# -- time windows ------------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`7d`, `24h`, `30m`, `2w`, `90s` back from now, or a date/ISO timestamp (UTC)."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = parse_time(text.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"cannot read {text!r} as a time: use 7d, 24h, 30m or 2025-01-01")
    return parsed


# -- the client --------------------------------------------------------------------------


class HeliconeClient:
    """Async client for the Helicone query API; use as `async with HeliconeClient(cfg)`.

    API calls and signed-URL body fetches use two separate connection pools: the storage
    pool never has the key (nor cookies from the API), and each pool stays small, which
    keeps httpx's per-request bookkeeping cheap at high concurrency.
    """

    def __init__(self, config: HeliconeConfig) -> None:
        self.config = config
        timeout = httpx.Timeout(config.timeout_s)
        api_slots = config.session_concurrency * 2
        self._http = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=api_slots, max_keepalive_connections=api_slots),
            follow_redirects=False,
        )
        self._storage = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=config.body_concurrency,
                max_keepalive_connections=config.body_concurrency,
            ),
            follow_redirects=True,  # storage proxies may redirect; no credentials to leak
        )
        self._body_slots = asyncio.Semaphore(config.body_concurrency)
        self._key = config.api_key.get_secret_value()

    async def __aenter__(self) -> HeliconeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._storage.aclose()

    def __repr__(self) -> str:
        return f"HeliconeClient(api_url={self.config.api_url!r})"

    # -- sessions --------------------------------------------------------------------------
    async def query_sessions(
        self,
        *,
        search: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        name: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[SessionSummary]:
        """One page of sessions (newest first) with requests inside the time window."""
        end = until or datetime.now(UTC) + timedelta(minutes=1)
        start = since or end - DEFAULT_SINCE
        body: dict[str, Any] = {
            "search": search or "",
            "timeFilter": {
                "startTimeUnixMs": int(start.timestamp() * 1000),
                "endTimeUnixMs": int(end.timestamp() * 1000),
            },
            "nameEquals": name or "",
            "timezoneDifference": 0,
            "filter": "all",
            "offset": offset,
            "limit": limit or self.config.sessions_page_size,
        }
        data = await self._api("POST", "/v1/session/query", json=body)
        if not isinstance(data, list):
            raise HeliconeError(
                "Helicone returned an unexpected session list (data is not a list)",
                endpoint="POST /v1/session/query",
            )
        summaries = []
        for raw in data:
            try:
                summaries.append(_SessionRow.parse(raw).summary())
            except RowError:
                continue  # a row we cannot read should not hide the rest of the page
        return summaries

    async def iter_sessions(
        self,
        *,
        search: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        name: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[list[SessionSummary]]:
        """Pages of sessions, fetched lazily; stops at an empty page or a repeated one."""
        limit = page_size or self.config.sessions_page_size
        end = until or datetime.now(UTC) + timedelta(minutes=1)
        seen: set[str] = set()
        offset = 0
        while True:
            page = await self.query_sessions(
                search=search, since=since, until=end, name=name, offset=offset, limit=limit
            )
            fresh = [s for s in page if s.id not in seen]
            if not fresh:
                return  # empty, or a server that ignores offset and repeats the first page
            seen.update(s.id for s in fresh)
            yield fresh
            offset += limit

    # -- requests --------------------------------------------------------------------------
    async def query_requests(
        self,
        filter_: Any,
        *,
        offset: int = 0,
        limit: int = MAX_PAGE,
        ascending: bool = True,
    ) -> list[dict[str, Any]]:
        """One raw page of `query-clickhouse` (never sends `isScored`)."""
        body = {
            "filter": filter_,
            "offset": offset,
            "limit": min(limit, MAX_PAGE),
            "sort": {"created_at": "asc" if ascending else "desc"},
        }
        return _rows(
            await self._api("POST", "/v1/request/query-clickhouse", json=body),
            "POST /v1/request/query-clickhouse",
        )

    async def session_rows(
        self, session_id: str, *, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """All raw rows of a session, oldest first, de-duplicated by request id."""
        bound = _request_bound(since)
        filter_ = {
            "left": {"request_response_rmt": {"properties": {SESSION_ID: {"equals": session_id}}}},
            "operator": "and",
            "right": {"request_response_rmt": {"request_created_at": {"gte": format_time(bound)}}},
        }
        limit = self.config.page_size
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            try:
                page = await self.query_requests(filter_, offset=offset, limit=limit)
            except HeliconeError as exc:
                if exc.status in (404, 405) and offset == 0:
                    return await self.legacy_session_rows(session_id)
                raise
            if not page:
                break
            rows.extend(page)
            # Pages are short after server-side de-duplication: advance by the limit asked.
            offset += limit
        return _dedupe(rows)

    async def sessionless_pages(
        self, *, since: datetime | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of raw rows in the window that were logged without a session id.

        Helicone's filters cannot ask for a missing property, so every request in the window
        is paged and those with a session id are left to the session pull.
        """
        bound = _request_bound(since)
        filter_ = {"request_response_rmt": {"request_created_at": {"gte": format_time(bound)}}}
        limit = self.config.page_size
        offset = 0
        while True:
            page = await self.query_requests(filter_, offset=offset, limit=limit)
            if not page:
                return
            yield [row for row in _dedupe(page) if not _session_property(row)]
            offset += limit

    async def legacy_session_rows(self, session_id: str) -> list[dict[str, Any]]:
        """The session's rows from the legacy `/v1/request/query` (older or self-hosted)."""
        limit = self.config.page_size
        rows: list[dict[str, Any]] = []
        offset = 0
        while offset <= LEGACY_MAX_OFFSET:
            body = {
                "filter": {"properties": {SESSION_ID: {"equals": session_id}}},
                "offset": offset,
                "limit": limit,
                "sort": {"created_at": "asc"},
            }
            page = _rows(
                await self._api("POST", "/v1/request/query", json=body), "POST /v1/request/query"
            )
            if not page:
                break
            rows.extend(page)
            offset += limit
        return _dedupe(rows)

    async def get_request(self, request_id: str, *, include_body: bool = True) -> LoggedRequest:
        """One request by id; with `include_body` the server resolves S3 bodies itself."""
        endpoint = f"GET /v1/request/{request_id}"
        data = await self._api(
            "GET",
            f"/v1/request/{request_id}",
            params={"includeBody": "true" if include_body else "false"},
            endpoint=endpoint,
        )
        try:
            return LoggedRequest.from_helicone_row(data)
        except RowError as exc:
            raise HeliconeError(
                f"Helicone returned an unreadable request from {endpoint}: {exc}", endpoint=endpoint
            ) from None

    async def query_ids(self, request_ids: list[str]) -> list[dict[str, Any]]:
        """Rows by id (with freshly signed body URLs); unknown ids are silently dropped."""
        return _rows(
            await self._api("POST", "/v1/request/query-ids", json={"requestIds": request_ids}),
            "POST /v1/request/query-ids",
        )

    async def fetch_session(
        self, session_id: str, *, since: datetime | None = None, bodies: bool = True
    ) -> SessionFetch:
        """A session's requests (oldest first) with full bodies where they can be fetched.

        A request whose body cannot be fetched is kept with its preview (or nothing) and
        an entry in `errors`; only a failure of the request listing itself raises.
        """
        fetch = SessionFetch(session_id=session_id)
        for raw in await self.session_rows(session_id, since=since):
            try:
                request = LoggedRequest.from_helicone_row(raw)
            except RowError as exc:
                fetch.errors.append(f"session {session_id}: skipped a row: {exc}")
                continue
            if not request.session_id:
                request.session_id = session_id
            fetch.requests.append(request)
        fetch.requests.sort(key=lambda r: (r.created_at, r.id))
        if bodies:
            fetch.bodies_fetched = await self.fill_bodies(fetch.requests, fetch.errors)
        return fetch

    async def fetch_session_requests(
        self, session_id: str, *, since: datetime | None = None
    ) -> list[LoggedRequest]:
        """A session's requests, oldest first, for live browsing (see `fetch_session`)."""
        return (await self.fetch_session(session_id, since=since)).requests

    # -- bodies ----------------------------------------------------------------------------
    async def fill_bodies(self, requests: list[LoggedRequest], errors: list[str]) -> int:
        """Replace preview/placeholder bodies in place from signed URLs; returns how many.

        Expired URLs (403/400 from storage) are re-queried once for fresh ones; what still
        fails is asked of `GET /v1/request/{id}?includeBody=true`, then left as it is (with
        its preview) and reported in `errors`.
        """
        pending = [
            i for i, r in enumerate(requests) if r.signed_body_url and r.body_state != "full"
        ]
        if not pending:
            return 0
        failed = await self._fill_from_urls(
            requests, {i: requests[i].signed_body_url or "" for i in pending}
        )
        fetched = len(pending) - len(failed)
        expired = [i for i, (_, is_expired) in failed.items() if is_expired]
        if expired:
            fresh = await self._fresh_urls([requests[i].id for i in expired])
            urls = {i: url for i in expired if (url := fresh.get(requests[i].id))}
            again = await self._fill_from_urls(requests, urls)
            for index in urls:
                if index not in again:
                    fetched += 1
                    del failed[index]
                else:
                    failed[index] = again[index]
        if not failed:
            return fetched
        results = await asyncio.gather(
            *(self._body_from_api(requests[i]) for i in failed), return_exceptions=True
        )
        for (index, (problem, _)), result in zip(failed.items(), results, strict=True):
            if isinstance(result, LoggedRequest):
                requests[index] = result
                fetched += 1
            elif isinstance(result, HeliconeAuthError | asyncio.CancelledError):
                raise result
            else:
                request = requests[index]
                kept = "its preview" if request.body_state == "preview" else "no body"
                errors.append(
                    f"request {request.id}: full body not fetched ({problem}); kept {kept}"
                )
        return fetched

    async def _fill_from_urls(
        self, requests: list[LoggedRequest], urls: dict[int, str]
    ) -> dict[int, tuple[str, bool]]:
        """Fetch bodies concurrently; returns the failures as index -> (problem, expired)."""
        outcomes = await asyncio.gather(*(self._signed_body(url) for url in urls.values()))
        failed: dict[int, tuple[str, bool]] = {}
        for index, (payload, problem, expired) in zip(urls, outcomes, strict=True):
            if payload is not None:
                try:
                    requests[index] = requests[index].with_signed_body(payload)
                    continue
                except RowError as exc:
                    problem, expired = f"unreadable storage object: {exc}", False
            failed[index] = (problem or "unknown storage failure", expired)
        return failed

    async def _signed_body(self, url: str) -> tuple[Any, str | None, bool]:
        """GET a signed storage URL without any auth header; (payload, problem, expired)."""
        attempt = 0
        async with self._body_slots:
            while True:
                try:
                    response = await self._storage.get(url)
                except httpx.TransportError as exc:
                    if attempt >= min(2, self.config.max_retries):
                        return None, f"storage unreachable: {type(exc).__name__}", False
                    await asyncio.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                status = response.status_code
                if status in (400, 401, 403):
                    return None, f"signed URL rejected by storage (HTTP {status})", True
                if status == 404:
                    return None, "body not found in storage (HTTP 404)", False
                if status == 429 or status >= 500:
                    if attempt >= min(2, self.config.max_retries):
                        return None, f"storage failed (HTTP {status})", False
                    await asyncio.sleep(self._retry_delay(response, attempt))
                    attempt += 1
                    continue
                if status >= 300:
                    return None, f"storage answered HTTP {status}", False
                try:
                    payload = response.json()
                except ValueError:
                    return None, "storage returned malformed JSON", False
                if not isinstance(payload, dict) or "request" not in payload:
                    return None, "storage object is not a {request, response} body", False
                return payload, None, False

    async def _fresh_urls(self, request_ids: list[str]) -> dict[str, str]:
        """Re-query rows for freshly signed body URLs (once); empty when that fails."""
        fresh: dict[str, str] = {}
        for start in range(0, len(request_ids), 100):
            try:
                rows = await self.query_ids(request_ids[start : start + 100])
            except HeliconeAuthError:
                raise
            except HeliconeError:
                return fresh
            for row in rows:
                url = row.get("signed_body_url") if isinstance(row, dict) else None
                if isinstance(url, str) and url and isinstance(row.get("request_id"), str):
                    fresh[row["request_id"]] = url
        return fresh

    async def _body_from_api(self, request: LoggedRequest) -> LoggedRequest:
        """Ask Helicone to resolve the body server-side; keeps the listing's metadata."""
        full = await self.get_request(request.id, include_body=True)
        if full.body_state != "full" or is_placeholder(full.request_body):
            raise HeliconeError("Helicone did not return the full body")
        return request.model_copy(
            update={
                "request_body": full.request_body,
                "response_body": full.response_body,
                "body_state": "full",
            }
        )

    # -- transport -------------------------------------------------------------------------
    async def _api(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        endpoint: str | None = None,
    ) -> Any:
        """One API call with retries; returns the envelope's `data`."""
        endpoint = endpoint or f"{method} {path}"
        url = self.config.api_url + path
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        attempt = 0
        while True:
            timed_out = False
            try:
                async with asyncio.timeout(self.config.timeout_s * CALL_DEADLINE_FACTOR):
                    response = await self._http.request(
                        method, url, json=json, params=params, headers=headers
                    )
            except (TimeoutError, httpx.TimeoutException):
                timed_out = True
                problem: str | None = f"timed out after {self.config.timeout_s:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                problem = None
            if problem is not None:
                # A timed-out call is retried once: a dead server costs two deadlines at most.
                if attempt >= (min(1, self.config.max_retries) if timed_out
                               else self.config.max_retries):
                    raise self._error(
                        f"cannot reach Helicone at {self.config.api_url} ({endpoint}): {problem},"
                        f" {attempt + 1} attempts",
                        endpoint=endpoint,
                    )
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                continue

            status = response.status_code
            if status in (401, 403):
                raise self._error(
                    f"Helicone rejected the API key (HTTP {status} from {endpoint} at"
                    f" {self.config.api_url}): {AUTH_HINT}",
                    status=status,
                    endpoint=endpoint,
                    auth=True,
                )
            if status == 429 or status >= 500:
                if attempt >= self.config.max_retries:
                    what = "rate limited" if status == 429 else f"server error HTTP {status}"
                    detail = _envelope_error(response)
                    raise self._error(
                        f"Helicone {what} on {endpoint} after {attempt + 1} attempts"
                        + (f": {detail}" if detail else ""),
                        status=status,
                        endpoint=endpoint,
                    )
                delay = self._retry_delay(response, attempt)
                if delay > self.config.max_retry_after_s:
                    raise self._error(
                        f"Helicone rate limited {endpoint}; it asks to wait {delay:.0f} s,"
                        " try again later",
                        status=status,
                        endpoint=endpoint,
                    )
                await asyncio.sleep(delay)
                attempt += 1
                continue

            try:
                payload = response.json()
            except ValueError:
                raise self._error(
                    f"Helicone returned malformed JSON from {endpoint} (HTTP {status})",
                    status=status,
                    endpoint=endpoint,
                ) from None
            error = payload.get("error") if isinstance(payload, dict) else None
            if not 200 <= status < 300:
                raise self._error(
                    f"Helicone refused {endpoint} (HTTP {status})"
                    + (f": {error}" if error else ""),
                    status=status,
                    endpoint=endpoint,
                )
            if not isinstance(payload, dict) or "data" not in payload:
                raise self._error(
                    f"Helicone returned an unexpected response from {endpoint}"
                    " (no {data, error} envelope)",
                    status=status,
                    endpoint=endpoint,
                )
            if error is not None:
                raise self._error(
                    f"Helicone error from {endpoint}: {error}", status=status, endpoint=endpoint
                )
            return payload["data"]

    def _error(
        self, message: str, *, status: int | None = None, endpoint: str = "", auth: bool = False
    ) -> HeliconeError:
        from core.keys import redact

        message = redact(message, [self._key])
        kind = HeliconeAuthError if auth else HeliconeError
        return kind(message, status=status, endpoint=endpoint)

    def _backoff(self, attempt: int) -> float:
        base = self.config.retry_base_s * (2**attempt)
        return base * (0.75 + random.random() * 0.5)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float:
        """`Retry-After` (seconds or an HTTP date) when given, else exponential backoff."""
        header = response.headers.get("retry-after")
        if header:
            try:
                return max(0.0, float(header))
            except ValueError:
                try:
                    when = parsedate_to_datetime(header)
                except (TypeError, ValueError):
                    when = None
                if when is not None:
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=UTC)
                    return max(0.0, (when - datetime.now(UTC)).total_seconds())
        return self._backoff(attempt)


def _envelope_error(response: httpx.Response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return str(error) if error else None


def _rows(data: Any, endpoint: str) -> list[dict[str, Any]]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise HeliconeError(
            f"Helicone returned an unexpected page from {endpoint} (data is not a list)",
            endpoint=endpoint,
        )
    return [row for row in data if isinstance(row, dict)]


def _row_version(row: dict[str, Any]) -> datetime:
    for key in ("updated_at", "response_created_at", "request_created_at"):
        try:
            value = parse_time(row.get(key))
        except ValueError:
            value = None
        if value is not None:
            return value
    return datetime.min.replace(tzinfo=UTC)


def _dedupe(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per request id, the newest `updated_at` winning (pages can overlap)."""
    best: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for row in rows:
        request_id = row.get("request_id")
        if not isinstance(request_id, str):
            continue
        current = best.get(request_id)
        if current is None:
            order.append(request_id)
            best[request_id] = row
        elif _row_version(row) >= _row_version(current):
            best[request_id] = row
    return [best[i] for i in order]


def _session_property(row: dict[str, Any]) -> str | None:
    for key in ("request_properties", "properties"):
        props = row.get(key)
        if isinstance(props, dict) and props.get(SESSION_ID):
            return str(props[SESSION_ID])
    return None


def _request_bound(since: datetime | None) -> datetime:
    """The time bound for a session's requests: the lookback, or earlier when asked."""
    floor = datetime.now(UTC) - REQUEST_LOOKBACK
    return floor if since is None else min(since, floor)


# -- pulling into the store --------------------------------------------------------------

ProgressCallback = Callable[[PullProgress], None]


async def pull(
    store: Store,
    client: HeliconeClient,
    *,
    since: datetime | None = None,
    session_ids: Iterable[str] = (),
    search: str = "",
    sessionless: bool = False,
    on_progress: ProgressCallback | None = None,
) -> PullReport:
    """Pull sessions (listed by window/search, or the given ids) into the store.

    With `sessionless`, the requests in the window logged without a session id are pulled
    too, page by page, each page written as soon as its bodies are fetched.

    Sessions are fetched concurrently while the listing is still being paged; each is
    written in its own transaction as soon as it is complete. Errors are collected in the
    report; a rejected key stops the pull (what was written stays written).
    """
    report = PullReport()
    progress = PullProgress()
    slots = asyncio.Semaphore(client.config.session_concurrency)
    wanted = list(dict.fromkeys(session_ids))
    window_start = since or datetime.now(UTC) - DEFAULT_SINCE

    def tick() -> None:
        if on_progress is not None:
            progress.requests = report.requests
            progress.bodies_fetched = report.bodies_fetched
            progress.errors = len(report.errors)
            on_progress(progress.model_copy())

    async def one(session_id: str) -> None:
        async with slots:
            try:
                fetched = await client.fetch_session(session_id, since=window_start)
            except HeliconeAuthError:
                raise
            except HeliconeError as exc:
                report.errors.append(f"session {session_id}: {exc}")
                fetched = None
            if fetched is not None:
                counts = store.upsert_requests(fetched.requests, source="helicone")
                report.sessions += 1
                report.requests += len(fetched.requests)
                report.added += counts.imported
                report.updated += counts.updated
                report.unchanged += counts.unchanged
                report.bodies_fetched += fetched.bodies_fetched
                report.errors.extend(fetched.errors)
                report.errors.extend(counts.errors)
            progress.sessions_done += 1
            tick()

    try:
        async with asyncio.TaskGroup() as group:
            if wanted:
                progress.sessions_total = len(wanted)
                progress.listing_done = True
                tick()
                for session_id in wanted:
                    group.create_task(one(session_id))
            else:
                try:
                    async for page in client.iter_sessions(search=search, since=window_start):
                        progress.sessions_total += len(page)
                        tick()
                        for summary in page:
                            group.create_task(one(summary.id))
                except HeliconeAuthError:
                    raise
                except HeliconeError as exc:
                    report.errors.append(f"listing sessions: {exc}")
                progress.listing_done = True
                tick()
    except* HeliconeAuthError as group_error:
        report.errors.append(str(group_error.exceptions[0]))
    else:
        if sessionless and not wanted:
            await _pull_sessionless(store, client, window_start, report, tick)
    tick()
    return report


async def _pull_sessionless(
    store: Store,
    client: HeliconeClient,
    since: datetime,
    report: PullReport,
    tick: Callable[[], None],
) -> None:
    try:
        async for page in client.sessionless_pages(since=since):
            requests: list[LoggedRequest] = []
            for raw in page:
                try:
                    requests.append(LoggedRequest.from_helicone_row(raw))
                except RowError as exc:
                    report.errors.append(f"request without a session: skipped a row: {exc}")
            if not requests:
                continue
            report.bodies_fetched += await client.fill_bodies(requests, report.errors)
            counts = store.upsert_requests(requests, source="helicone")
            report.requests += len(requests)
            report.sessionless += len(requests)
            report.added += counts.imported
            report.updated += counts.updated
            report.unchanged += counts.unchanged
            report.errors.extend(counts.errors)
            tick()
    except HeliconeError as exc:
        report.errors.append(f"requests without a session: {exc}")


def report_json(report: PullReport) -> str:
    """The `--json` form: sessions, requests, bodies_fetched, errors."""
    return json.dumps(report.model_dump(), ensure_ascii=False)

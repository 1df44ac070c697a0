"""The replay engine: send a planned session under edits, concurrently, resumably.

One shared `httpx.AsyncClient`; a task per request waits for the requests it depends on,
then takes a slot from an AIMD limiter (halved on 429, grown back on success). Each result
is committed to the store the moment it completes, so a killed replay resumes by sending
only what is missing. Cancelling the task that runs `run_replay` aborts in-flight sends,
keeps every finished result and marks the replay cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from core.keys import KeyInvalid, Redactor, env_secrets
from core.labels import request_labels
from core.models import LoggedRequest
from core.replay.models import (
    FAILED,
    KEPT_ON_RESUME,
    Replay,
    ReplayEvent,
    ReplayResult,
    ReplaySpec,
    ReplayTarget,
)
from core.replay.plan import PlannedRequest, ReplayPlan, plan_replay, same_tool_calls
from core.replay.sending import (
    MAX_RAW_BODY,
    Attempt,
    RetryPolicy,
    Timeouts,
    make_client,
    send,
    waiting_for,
)
from core.replay.transport import (
    TargetRefused,
    check_target,
    request_headers,
    resume_target,
    secrets_in,
)
from core.replay.wire import CannotSend, is_compatible_target, shape, thread_chain
from core.store import Store, StoreError

EventCallback = Callable[[ReplayEvent], None]
__all__ = ["RetryPolicy", "Timeouts", "make_client", "replay_events", "run_replay"]


class AdaptiveLimiter:
    """Bounded concurrency that shrinks on throttling and grows back (AIMD)."""

    def __init__(self, limit: int) -> None:
        self.max = max(1, limit)
        self.limit = float(self.max)
        self.active = 0
        self._cond = asyncio.Condition()
        self._last_cut = 0.0

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.active < max(1, int(self.limit)))
            self.active += 1

    async def release(self) -> None:
        async with self._cond:
            self.active -= 1
            self._cond.notify(max(1, int(self.limit) - self.active))

    def on_success(self) -> None:
        if self.limit < self.max:
            self.limit = min(self.max, self.limit + 1 / self.limit)

    def on_throttle(self) -> None:
        now = time.monotonic()
        if now - self._last_cut > 0.2:  # one cut per burst of 429s
            self.limit = max(1.0, self.limit / 2)
            self._last_cut = now


async def run_replay(
    store: Store,
    spec: ReplaySpec,
    *,
    on_event: EventCallback | None = None,
    resume_id: str | None = None,
    target: ReplayTarget | None = None,
    client: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    timeouts: Timeouts | None = None,
) -> Replay:
    """Replay `spec.session_id`, or resume `resume_id` and return the replay.

    Each attempt of each request is bounded by `timeouts` (defaults: `Timeouts()`).

    A resumed replay keeps its stored edits and mode, but where it sends and with which key
    comes from `target` (named by the person resuming); without one, a stored target that
    is not built in is refused (TargetRefused says which flags name it). A replay still
    running in another live process is refused too.
    """
    env = os.environ if env is None else env
    if resume_id is not None:
        existing_replay = store.get_replay(resume_id)
        if existing_replay is None:
            raise ValueError(f"no replay {resume_id!r} in the store")
        owner = existing_replay.owner_pid
        if existing_replay.status == "running" and owner not in (None, os.getpid()):
            raise ValueError(
                f"replay {resume_id} is still running in process {owner}; wait for it to"
                " finish or stop that process before resuming"
            )
        if target is None:
            target = resume_target(existing_replay.spec.target(), what=f"replay {resume_id}")
        spec = existing_replay.spec.with_target(target)
        check_target(spec.target(), env)
        replay = existing_replay
        previous = store.replay_results(resume_id)
        if not store.claim_replay(resume_id, owner):
            raise ValueError(f"replay {resume_id} was resumed by another process just now")
    else:
        check_target(spec.target(), env)
        replay = store.create_replay(spec)
        previous = {}
    requests = store.session_requests(spec.session_id, bodies=True)
    if not requests:
        store.finish_replay(replay.id, "failed")
        raise ValueError(f"session {spec.session_id!r} has no stored requests")
    try:
        run_spec = await _resolve_local_target(spec)
    except ValueError:
        store.finish_replay(replay.id, "failed")
        raise
    plan = plan_replay(requests, run_spec)
    own_client = client is None
    timeouts = timeouts or Timeouts()
    if client is None:
        client = make_client(spec.concurrency, timeouts)
    runner = _Runner(
        store, run_spec, plan, replay.id, client, env, on_event, retry or RetryPolicy(), timeouts
    )
    runner.load(previous)
    try:
        status = await runner.run()
    except asyncio.CancelledError:
        store.finish_replay(replay.id, "cancelled")
        runner.emit(ReplayEvent(kind="replay_finished", replay_id=replay.id, message="cancelled"))
        raise
    except BaseException:
        store.finish_replay(replay.id, "interrupted")
        raise
    finally:
        if own_client:
            await client.aclose()
    store.finish_replay(replay.id, status)
    runner.emit(ReplayEvent(kind="replay_finished", replay_id=replay.id, message=status))
    final = store.get_replay(replay.id)
    assert final is not None
    return final


LOCAL_SERVES_AT_ONCE = 1  # core.local_server generates under one lock


async def _resolve_local_target(spec: ReplaySpec) -> ReplaySpec:
    """`via="local"` means the bundled local model: start (or reuse) it and aim at its URL.

    The stored spec keeps "local", so a replay resumed later finds the server wherever it
    listens then.
    """
    if spec.via != "local":
        return spec
    from core.local_model import LocalModelError, ensure_local_server

    try:
        server = await ensure_local_server()
    except LocalModelError as exc:
        raise ValueError(str(exc)) from None
    # The local server answers one request at a time: more in flight would only queue there,
    # and the queueing would count as latency. Waiting here keeps the latency honest.
    return spec.model_copy(update={"via": server.base_url,
                                   "concurrency": LOCAL_SERVES_AT_ONCE})


async def replay_events(
    store: Store, spec: ReplaySpec, **kwargs: Any
) -> AsyncIterator[ReplayEvent]:
    """`run_replay` as an async iterator of events; closing it cancels the replay."""
    queue: asyncio.Queue[ReplayEvent | None] = asyncio.Queue()
    task = asyncio.create_task(run_replay(store, spec, on_event=queue.put_nowait, **kwargs))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (event := await queue.get()) is not None:
            yield event
        await task  # surface the engine's exception, if any
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def similarity(a: str, b: str) -> float:
    """Word-level similarity of two outputs, from the diff engine when it is available."""
    try:
        from core.diff import similarity as diff_similarity
    except ImportError:
        import difflib

        return difflib.SequenceMatcher(None, a.split(), b.split()).ratio()
    return diff_similarity(a, b)


class _Runner:
    def __init__(
        self,
        store: Store,
        spec: ReplaySpec,
        plan: ReplayPlan,
        replay_id: str,
        client: httpx.AsyncClient,
        env: Mapping[str, str],
        on_event: EventCallback | None,
        retry: RetryPolicy,
        timeouts: Timeouts,
    ) -> None:
        self.timeouts = timeouts
        self.store = store
        self.spec = spec
        self.plan = plan
        self.replay_id = replay_id
        self.client = client
        self.env = env
        self.on_event = on_event
        self.retry = retry
        self.limiter = AdaptiveLimiter(spec.concurrency)
        self.results: dict[str, ReplayResult] = {}
        self.done: dict[str, asyncio.Event] = {item.id: asyncio.Event() for item in plan.items}
        self.items = {item.id: item for item in plan.items}
        self.contained = plan.contained
        # Messages name requests by path (core.labels), never by UUID.
        self.labels = request_labels([item.request for item in plan.items])
        self.running: set[str] = set()
        # Every key this run could send, scrubbed from whatever it stores or reports.
        self.redact = Redactor(env_secrets(env, [spec.api_key_env]))

    def emit(self, event: ReplayEvent) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # a broken listener never stops a replay
                self.on_event(event)

    def load(self, previous: dict[str, ReplayResult]) -> None:
        for request_id, result in previous.items():
            if request_id in self.items and result.status in KEPT_ON_RESUME:
                self.results[request_id] = result
                self.done[request_id].set()

    async def run(self) -> str:
        pending = [item for item in self.plan.items if item.id not in self.results]
        for item in pending:
            self.emit(ReplayEvent(kind="queued", replay_id=self.replay_id, request_id=item.id))
        tasks = [asyncio.create_task(self._one(item)) for item in pending]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        failed = any(r.status in FAILED for r in self.results.values())
        return "failed" if failed else "done"

    async def _one(self, item: PlannedRequest) -> None:
        try:
            result = await self._replay(item)
        except asyncio.CancelledError:
            if item.id in self.running:
                cancelled = ReplayResult(
                    request_id=item.id,
                    status="cancelled",
                    depends_on=item.depends_on,
                    finished_at=datetime.now(UTC),
                )
                self.store.save_result(self.replay_id, cancelled)
                self.emit(
                    ReplayEvent(
                        kind="cancelled",
                        replay_id=self.replay_id,
                        request_id=item.id,
                        result=cancelled,
                    )
                )
            raise
        except StoreError:
            raise
        except Exception as exc:  # an unforeseen recorded shape fails this request alone
            self.running.discard(item.id)
            result = ReplayResult(
                request_id=item.id,
                status="failed",
                depends_on=item.depends_on,
                error=f"cannot replay this request: its body has an unexpected shape"
                f" ({type(exc).__name__})",
            )
        self._finish(result)

    def _finish(self, result: ReplayResult) -> None:
        result.finished_at = datetime.now(UTC)
        try:
            self.store.save_result(self.replay_id, result)
        except (ValueError, RecursionError):
            # A response nested too deep to store as JSON: its text is kept instead, and the
            # answer (already read from it) still counts.
            result = result.model_copy(
                update={"response_body": self.redact(_raw_text(result.response_body))})
            self.store.save_result(self.replay_id, result)
        self.results[result.request_id] = result
        kind = {
            "done": "finished",
            "diverged": "finished",
            "failed": "failed",
            "skipped": "skipped",
            "blocked": "blocked",
        }.get(result.status, "finished")
        self.emit(
            ReplayEvent(
                kind=kind,
                replay_id=self.replay_id,
                request_id=result.request_id,
                result=result,
                attempt=result.attempts,
                message=result.error or result.diverged_reason or "",
            )
        )
        self.done[result.request_id].set()

    async def _replay(self, item: PlannedRequest) -> ReplayResult:
        base = ReplayResult(request_id=item.id, depends_on=item.depends_on)
        if item.skip_reason is not None:
            return base.model_copy(update={"status": "skipped", "error": item.skip_reason})
        for dep in item.depends_on:
            await self.done[dep].wait()
        for dep in item.depends_on:
            if self.results[dep].status not in ("done", "diverged"):
                return base.model_copy(
                    update={
                        "status": "blocked",
                        "blocked": True,
                        "error": f"depends on {self.labels.get(dep, dep)}, which"
                        f" {self.results[dep].status}",
                    }
                )
        request = item.request
        recorded_fmt = item.fmt
        assert recorded_fmt is not None
        try:
            body, diverged = self._body(item)
            # A base URL speaks chat completions: other formats are translated (core.replay.wire).
            wire = shape(request, recorded_fmt, body, self.spec, self.env)
            headers = request_headers(
                request, wire.fmt.name, wire.url, self.spec, self.env, replay_id=self.replay_id
            )
        except CannotSend as exc:
            return base.model_copy(update={"status": "skipped", "error": str(exc)})
        except (TargetRefused, KeyInvalid) as exc:
            return base.model_copy(
                update={"status": "failed", "error": self.redact(str(exc)), "sent_body": None}
            )
        fmt, body, url, stream = wire.fmt, wire.body, wire.url, wire.stream
        redact = Redactor([*secrets_in(headers), *self.redact.secrets])
        base.sent_body = body
        if diverged:
            base.diverged = True
            base.diverged_reason = "; ".join(diverged)
        payload = json.dumps(body, ensure_ascii=False).encode()
        attempt = 0
        while True:
            attempt += 1
            await self.limiter.acquire()
            self.running.add(item.id)
            # Every attempt says what it waits for, so progress lines can show how long.
            self.emit(
                ReplayEvent(
                    kind="started",
                    replay_id=self.replay_id,
                    request_id=item.id,
                    attempt=attempt,
                    message=waiting_for(url, self.timeouts, attempt),
                )
            )
            started = time.perf_counter()
            try:
                response, ttft, helicone_id = await send(
                    self.client, fmt, url, headers, payload, stream, started, self.timeouts
                )
            except Attempt as failure:
                failure_error = redact(str(failure))
                if failure.status == 429:
                    self.limiter.on_throttle()
                cap = self.retry.max_retry_after_s
                too_long = failure.retry_after is not None and failure.retry_after > cap
                if too_long:
                    failure_error += (
                        f"; the server asks to wait {failure.retry_after:.0f} s, longer than"
                        f" the {cap:.0f} s reprise waits: try again later"
                    )
                if (failure.retryable and not too_long
                        and attempt < self.retry.attempts_for(failure.kind)):
                    await self.limiter.release()
                    self.running.discard(item.id)
                    delay = self.retry.delay(attempt, failure.retry_after)
                    self.emit(
                        ReplayEvent(
                            kind="retried",
                            replay_id=self.replay_id,
                            request_id=item.id,
                            attempt=attempt,
                            message=f"{failure_error}; retrying in {delay:.1f}s",
                        )
                    )
                    await asyncio.sleep(delay)
                    continue
                await self.limiter.release()
                self.running.discard(item.id)
                return base.model_copy(
                    update={
                        "status": "failed",
                        "error": failure_error,
                        "http_status": failure.status,
                        "response_body": redact(failure.body),
                        "attempts": attempt,
                        "latency_ms": (time.perf_counter() - started) * 1000,
                    }
                )
            except BaseException:  # cancelled mid-send: `_one` records it as cancelled
                await self.limiter.release()
                raise
            latency = (time.perf_counter() - started) * 1000
            self.limiter.on_success()
            await self.limiter.release()
            self.running.discard(item.id)
            break
        response = redact(response)
        try:
            output = fmt.output(response)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            return base.model_copy(update={
                "status": "failed", "http_status": 200, "attempts": attempt,
                "error": f"response has an unexpected shape ({type(exc).__name__})",
                "response_body": _raw_text(response), "latency_ms": latency})
        status = "diverged" if base.diverged else "done"
        if output.error is not None:
            status = "failed"
        return base.model_copy(
            update={
                "status": status,
                "response_body": response,
                "output_text": output.text,
                "tool_calls": output.tool_calls,
                "error": output.error,
                "http_status": 200,
                "latency_ms": latency,
                "ttft_ms": ttft,
                "prompt_tokens": output.prompt_tokens,
                "completion_tokens": output.completion_tokens,
                "attempts": attempt,
                "helicone_id": helicone_id,
                "similarity": None
                if output.error
                else _similarity_to_recorded(recorded_fmt, request, output.text),
            }
        )

    def _body(self, item: PlannedRequest) -> tuple[dict[str, Any], list[str]]:
        """The body to send: recorded outputs swapped for replayed ones, then the edits."""
        request: LoggedRequest = item.request
        body: dict[str, Any] = request.request_body
        diverged: list[str] = []
        replacements: dict[str, str] = {}
        for dep_id in item.depends_on:
            dep = self.items[dep_id]
            replayed = self.results[dep_id]
            new_text = replayed.output_text.strip()
            if dep.recorded_text and new_text != dep.recorded_text:
                replacements[dep.recorded_text] = new_text
            if dep_id in item.tool_depends_on and not same_tool_calls(
                dep.recorded_tool_calls, replayed.tool_calls
            ):
                recorded = ", ".join(c.name for c in dep.recorded_tool_calls) or "none"
                now = ", ".join(c.name for c in replayed.tool_calls) or "none"
                diverged.append(
                    f"{self.labels.get(dep_id, dep_id)} asked for different tool calls ({now})"
                    " than recorded"
                    f" ({recorded}); the recorded tool results were sent"
                )
        # One pass over the messages for all links, longest recorded text first.
        fmt = item.fmt
        assert fmt is not None
        body = fmt.substitute_many(body, replacements, self.contained)
        if fmt.name == "responses":
            body = thread_chain(
                body,
                by_response=self.plan.by_response,
                requests={i.id: i.request for i in self.plan.items},
                results=self.results,
                chained=self.spec.mode == "chained",
                keep_ids=not is_compatible_target(self.spec),
            )
        body = self.spec.edits.apply(request, body)
        return body, diverged

def _similarity_to_recorded(fmt: Any, request: LoggedRequest, text: str) -> float | None:
    try:
        recorded = fmt.output(request.response_body).text
    except (ValueError, TypeError, AttributeError, KeyError):
        return None  # a recorded response of an odd shape: no similarity, still a result
    return similarity(recorded, text)


def _raw_text(value: Any) -> str:
    if isinstance(value, str):
        return value[:MAX_RAW_BODY]
    try:
        return json.dumps(value)[:MAX_RAW_BODY]
    except (ValueError, TypeError, RecursionError):
        return repr(value)[:MAX_RAW_BODY]

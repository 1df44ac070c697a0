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

from core.formats import ToolCall, format_named
from core.formats.convert import normalize_for_compatible
from core.keys import KeyInvalid, Redactor, env_secrets
from core.labels import request_labels
from core.models import LoggedRequest
from core.replay import agent
from core.replay.conversation import Exchange, ToolResult, codec_for, splice
from core.replay.environment import Environment
from core.replay.models import (
    FAILED,
    KEPT_ON_RESUME,
    Replay,
    ReplayEvent,
    ReplayResult,
    ReplaySpec,
    ReplayTarget,
)
from core.replay.plan import (
    PlannedRequest,
    ReplayPlan,
    compared_answer,
    plan_replay,
    same_tool_calls,
)
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
    BUILTIN_VIAS,
    TargetRefused,
    check_keys,
    check_target,
    origin,
    request_headers,
    resume_target,
    secrets_in,
)
from core.replay.wire import (
    CannotSend,
    input_items,
    is_compatible_target,
    shape,
    thread_chain,
)
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
    tool_results: Mapping[str, str] | None = None,
) -> Replay:
    """Replay `spec.session_id`, or resume `resume_id` and return the replay.

    `tool_results` (call id -> text) answers the tool calls a stopped agent replay waits for.

    Each attempt of each request is bounded by `timeouts` (defaults: `Timeouts()`).

    A resumed replay keeps its stored edits and mode, but where it sends and with which key
    comes from `target` (named by the person resuming); without one, a stored target that
    is not built in is refused (TargetRefused says which flags name it). A replay still
    running in another live process is refused too.
    """
    env = os.environ if env is None else env
    resumed: Replay | None = None
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
        previous = store.replay_results(resume_id)
        resumed = existing_replay
    else:
        check_target(spec.target(), env)
        previous = {}
    # The session is read and planned once: the key check below and the run share the plan.
    requests = store.session_requests(spec.session_id, bodies=True)
    format_error: ValueError | None = None
    if spec.format and requests:
        from core.sources.calls import decide_formats

        try:
            requests = decide_formats(requests, spec.format)
        except ValueError as exc:
            format_error = exc
    checked_plan = (_plan_with_keys_checked(requests, spec, env, previous)
                    if format_error is None else None)
    if resumed is not None:
        replay = resumed
        if not store.claim_replay(resumed.id, resumed.owner_pid):
            raise ValueError(f"replay {resumed.id} was resumed by another process just now")
    else:
        replay = store.create_replay(spec)
    if not requests:
        store.finish_replay(replay.id, "failed")
        raise ValueError(f"session {spec.session_id!r} has no stored requests")
    if format_error is not None:
        store.finish_replay(replay.id, "failed")
        raise format_error
    try:
        run_spec = await _resolve_local_target(spec)
    except ValueError:
        store.finish_replay(replay.id, "failed")
        raise
    plan = checked_plan if checked_plan is not None and run_spec is spec else (
        plan_replay(requests, run_spec))
    own_client = client is None
    timeouts = timeouts or Timeouts()
    if client is None:
        client = make_client(spec.concurrency, timeouts)
    runner = _Runner(
        store, run_spec, plan, replay.id, client, env, on_event, retry or RetryPolicy(), timeouts
    )
    runner.user_results = dict(tool_results or {})
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
        await runner.tools.aclose()
        if own_client:
            await client.aclose()
    store.finish_replay(replay.id, status)
    runner.emit(ReplayEvent(kind="replay_finished", replay_id=replay.id, message=status))
    final = store.get_replay(replay.id)
    assert final is not None
    return final


def check_ready(requests: list[LoggedRequest], spec: ReplaySpec,
                env: Mapping[str, str]) -> None:
    """What `run_replay` refuses before it sends anything (TargetRefused: the target, a key
    its requests need), for callers that start many replays at once and should refuse once
    (a matrix) rather than fail every one of them."""
    check_target(spec.target(), env)
    _plan_with_keys_checked(requests, spec, env, {})


def _plan_with_keys_checked(
    requests: list[LoggedRequest], spec: ReplaySpec, env: Mapping[str, str],
    previous: dict[str, ReplayResult],
) -> ReplayPlan | None:
    """The plan, once every key its requests need is known usable (TargetRefused if not);
    None for the local model (no keys) or a session that cannot be planned (the run plans
    again and reports why)."""
    if not requests or spec.via == "local":
        return None
    try:
        plan = plan_replay(requests, spec)
    except ValueError:
        return None
    _check_keys(plan, spec, env, previous)
    return plan


def _check_keys(
    plan: ReplayPlan, spec: ReplaySpec, env: Mapping[str, str],
    previous: dict[str, ReplayResult],
) -> None:
    """Refuse (TargetRefused) before anything is sent or stored when a request that will be
    sent goes to a provider whose key is missing or unusable; skipped requests and those a
    resumed run keeps do not count. Problems the plan or the sending reports anyway (no
    requests, a refused URL) are left to them."""
    named_key = spec.api_key_env is not None and spec.via not in BUILTIN_VIAS
    urls = []
    for item in plan.items:
        kept = previous.get(item.id)
        if item.skip_reason is not None or item.fmt is None or (
            kept is not None and kept.status in KEPT_ON_RESUME
        ):
            continue
        try:
            url = shape(item.request, item.fmt, item.request.request_body, spec, env).url
        except Exception:  # noqa: BLE001 - the send reports its own problems, request by request
            continue
        if not (named_key and origin(url) == origin(spec.via)):  # its own key: check_target
            urls.append(url)
    check_keys(urls, env, spec.allow_hosts)


LOCAL_SERVES_AT_ONCE = 1  # core.servers.local generates under one lock


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
        # Agent replay: rebuild conversations from replayed turns (chained mode only).
        self.agent = spec.mode == "chained"
        self.continued_by = plan.continued_by()
        self.tools = Environment(
            agent.recorded_tools(plan), spec.tools,
            schemas=lambda: agent.session_tools(item.request for item in plan.items),
        )
        # Request key -> the replayed exchanges its body carried (recorded ids and extras).
        self.conv: dict[str, list[Exchange]] = {}
        self.stopped: dict[str, ReplayResult] = {}  # stored results waiting for tool results
        self.user_results: dict[str, str] = {}
        self.resume_extras: list[PlannedRequest] = []

    def emit(self, event: ReplayEvent) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # a broken listener never stops a replay
                self.on_event(event)

    def load(self, previous: dict[str, ReplayResult]) -> None:
        for key, result in previous.items():
            owner = key.split("+", 1)[0] if result.extra else key
            if owner not in self.items:
                continue
            item = self.items[owner]
            for tool_result in result.tool_results:
                self.tools.note_consumed(item.root or item.id, tool_result)
            if result.status in ("needs_tool_result", "queued"):
                self.stopped[key] = result
            elif result.status in KEPT_ON_RESUME:
                self.results[key] = result
        for item in self.plan.items:  # plan order: a turn's predecessor is rebuilt first
            kept = self.results.get(item.id)
            if kept is None:
                continue
            self._restore_conv(item.id, item.follows, kept)
            if self._wants_extras(item, kept) and kept.answer is None:
                self.resume_extras.append(item)  # its added rounds did not all finish
                n = 1
                prev = item.id
                while (key := agent.extra_key(item.id, n)) in self.results:
                    self._restore_conv(key, prev, self.results[key])
                    prev, n = key, n + 1
            else:
                self.done[item.id].set()

    def _restore_conv(self, key: str, prev: str | None, result: ReplayResult) -> None:
        if prev is None:
            self.conv[key] = []
        elif prev in self.conv and result.tool_results and prev in self.results:
            self.conv[key] = self.conv[prev] + [
                agent.exchange(prev, self.results[prev], result.tool_results,
                               recorded=prev in self.items)
            ]

    async def run(self) -> str:
        pending = [item for item in self.plan.items if item.id not in self.results]
        for item in pending:
            self.emit(ReplayEvent(kind="queued", replay_id=self.replay_id, request_id=item.id))
        tasks = [asyncio.create_task(self._one(item)) for item in pending]
        tasks += [asyncio.create_task(self._resume_extras(item)) for item in self.resume_extras]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        statuses = {r.status for r in self.results.values()}
        if statuses & {"needs_tool_result", "queued"}:
            return "needs_tool_result"
        return "failed" if statuses & FAILED else "done"

    async def _resume_extras(self, item: PlannedRequest) -> None:
        await self._extras(item, self.results[item.id])
        self.done[item.id].set()

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
        if self._wants_extras(item, result):
            await self._extras(item, result)
        self.done[item.id].set()

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
            "not_reached": "skipped",
            "blocked": "blocked",
            "needs_tool_result": "stopped",
            "queued": "queued",
        }.get(result.status, "finished")
        self.emit(
            ReplayEvent(
                kind=kind,
                replay_id=self.replay_id,
                request_id=result.request_id,
                result=result,
                attempt=result.attempts,
                message=result.error or result.diverged_reason or result.note or "",
            )
        )

    async def _replay(self, item: PlannedRequest) -> ReplayResult:
        base = ReplayResult(request_id=item.id, depends_on=item.depends_on)
        if item.skip_reason is not None:
            return base.model_copy(update={"status": "skipped", "error": item.skip_reason})
        for dep in item.depends_on:
            await self.done[dep].wait()
        for dep in item.depends_on:
            status = self.results[dep].status
            if status in ("needs_tool_result", "queued"):
                return base.model_copy(update={
                    "status": "queued", "error": f"waits for {self.labels.get(dep, dep)},"
                    " which needs a tool result"})
            if status not in ("done", "diverged", "not_reached"):
                return base.model_copy(
                    update={
                        "status": "blocked",
                        "blocked": True,
                        "error": f"depends on {self.labels.get(dep, dep)}, which {status}",
                    }
                )
        agent_turn = self.agent and item.follows is not None and item.follows in self.conv
        body, diverged = self._body(item, check_tools=not agent_turn)
        if self.agent and item.follows is not None and (
            self.results[item.follows].status == "not_reached"
            or not self.results[item.follows].tool_calls
        ):
            # The replayed agent answered without tools where the recording went on.
            prev = self.results[item.follows]
            return base.model_copy(update={
                "status": "not_reached", "answer": prev.effective_text,
                "note": prev.note if prev.status == "not_reached"
                else "the replayed model finished at"
                f" {self.labels.get(item.follows, item.follows)}"})
        if self.agent and item.follows is not None and item.follows in self.conv:
            prev_id = item.follows
            prev = self.results[prev_id]
            results = await self._tool_results(item.id, item, prev.tool_calls)
            base.tool_results = results
            if any(r.pending for r in results):
                return base.model_copy(update={"status": "needs_tool_result"})
            exchanges = self.conv[prev_id] + [agent.exchange(prev_id, prev, results, recorded=True)]
            spliced = self._splice(item, body, exchanges)
            if spliced is not None:
                self.conv[item.id] = exchanges
                body, diverged = spliced, []
        elif self.agent and item.follows is None:
            self.conv[item.id] = []
        recorded = item.fmt
        assert recorded is not None
        return await self._deliver(
            item.request, recorded.name, body, base, item.id,
            recorded_calls=item.recorded_tool_calls, diverged=diverged,
        )

    def _wants_extras(self, item: PlannedRequest, result: ReplayResult) -> bool:
        """A branch's last recorded turn whose replayed model still calls tools."""
        return (
            self.agent
            and result.status in ("done", "diverged")
            and bool(result.tool_calls)
            and not self.continued_by.get(item.id)
            and item.id in self.conv
            and agent.offers_tools(item.format_name, item.request.request_body)
        )

    async def _extras(self, item: PlannedRequest, result: ReplayResult) -> None:
        """Send the rounds the recording never had, until the model stops calling tools."""
        limit = self.spec.tools.max_extra_turns
        prev_key, prev = item.id, result
        n = 0
        while prev.status in ("done", "diverged") and prev.tool_calls:
            n += 1
            key = agent.extra_key(item.id, n)
            loaded = self.results.get(key)
            if loaded is not None:
                prev_key, prev = key, loaded
                continue
            if n > limit:
                prev.note = (f"still calling tools after {limit} added rounds"
                             " (--max-extra-turns); stopped there")
                self.store.save_result(self.replay_id, prev)
                break
            base = ReplayResult(request_id=key, depends_on=[prev_key], extra=True, after=prev_key)
            results = await self._tool_results(key, item, prev.tool_calls)
            base.tool_results = results
            if any(r.pending for r in results):
                self._finish(base.model_copy(update={"status": "needs_tool_result"}))
                return
            exchanges = self.conv[prev_key] + [
                agent.exchange(prev_key, prev, results, recorded=prev_key == item.id)
            ]
            body, _ = self._body(item, check_tools=False)
            spliced = self._splice(item, body, exchanges)
            if spliced is None:
                prev.note = "could not rebuild the conversation for another round"
                self.store.save_result(self.replay_id, prev)
                break
            self.conv[key] = exchanges
            self.emit(ReplayEvent(kind="queued", replay_id=self.replay_id, request_id=key))
            assert item.format_name is not None
            current = await self._deliver(item.request, item.format_name, spliced, base, key,
                                          compare=False)
            self._finish(current)
            prev_key, prev = key, current
        answered = self.results[item.id]
        answered.answer = prev.effective_text
        self.store.save_result(self.replay_id, answered)

    def _replayed_turn(self, request_id: str) -> tuple[list[Any], ReplayResult] | None:
        """The replayed input items and result that stand for `request_id` in a Responses
        chain continuing it: the request itself, the last round added after it, or, when the
        replayed agent answered earlier than recorded, the request where it did."""
        key: str | None = request_id
        result = self.results.get(request_id)
        while result is not None and result.status == "not_reached" and key is not None:
            key = self.items[key].follows if key in self.items else None
            result = self.results.get(key) if key is not None else None
        if result is None or key is None:
            return None
        owner = self.items[key]
        n = 1
        while (extra := agent.extra_key(owner.id, n)) in self.results:
            key, result, n = extra, self.results[extra], n + 1
        if result.status not in ("done", "diverged"):
            return None
        body = owner.request.request_body
        exchanges = self.conv.get(key)
        if exchanges:
            body = self._splice(owner, body, exchanges) or body
        return input_items(body.get("input")), result

    def _splice(self, item: PlannedRequest, body: dict[str, Any],
                exchanges: list[Exchange]) -> dict[str, Any] | None:
        codec = codec_for(item.format_name or "")
        if codec is None:
            return None
        chain = [self.items[rid].recorded_tool_calls for rid in self.plan.chain(item.id)]
        return splice(codec, body, chain, exchanges)

    async def _tool_results(self, key: str, item: PlannedRequest,
                            calls: list[Any]) -> list[ToolResult]:
        """Results for the previous turn's calls: kept from a stopped run, the person's, or
        the environment's."""
        stopped = self.stopped.get(key)
        stored = {r.call_id: r for r in (stopped.tool_results if stopped else [])}
        branch = item.root or item.id
        results: list[ToolResult] = []
        for call in calls:
            old = stored.get(call.id)
            if old is not None and old.pending and call.id in self.user_results:
                results.append(old.model_copy(update={
                    "source": "user", "content": self.user_results[call.id], "is_error": False}))
            elif old is not None:
                results.append(old)
            else:
                async def simulate(system: str, user: str) -> str:
                    return await self._simulate(item, system, user)

                results.append(await self.tools.resolve(branch, call, simulate=simulate))
        return results

    async def _simulate(self, item: PlannedRequest, system: str, user: str) -> str:
        """The `llm` rule: ask the replay target to play the tool, in the session's own wire
        format (translated for compatible targets, as every replayed request is)."""
        request = item.request
        recorded = item.fmt
        assert recorded is not None
        model = self.spec.model or request.model or str(request.request_body.get("model") or "")
        body = simulation_body(recorded.name, model, system, user)
        try:
            wire = shape(request, recorded, body, self.spec, self.env)
            headers = request_headers(request, wire.fmt.name, wire.url, self.spec, self.env,
                                      replay_id=self.replay_id)
        except (CannotSend, TargetRefused, KeyInvalid) as exc:
            raise RuntimeError(self.redact(str(exc))) from None
        redact = Redactor([*secrets_in(headers), *self.redact.secrets])
        try:
            response, _, _ = await send(self.client, wire.fmt, wire.url, headers,
                                        json.dumps(wire.body).encode(), wire.stream,
                                        time.perf_counter(), self.timeouts)
        except Attempt as failure:
            raise RuntimeError(redact(str(failure))) from None
        output = wire.fmt.output(redact(response))
        if output.error is not None:
            raise RuntimeError(output.error)
        return output.text.strip()

    async def _deliver(
        self,
        request: LoggedRequest,
        recorded_format: str,
        body: dict[str, Any],
        base: ReplayResult,
        key: str,
        *,
        recorded_calls: list[Any] | None = None,
        diverged: list[str] | None = None,
        compare: bool = True,
    ) -> ReplayResult:
        """Send one body where the spec says, with retries; the result, failed or done."""
        recorded_fmt = format_named(recorded_format)
        try:
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
        if fmt.name == "openai" and is_compatible_target(self.spec):
            body = normalize_for_compatible(body)  # no `content: null` beside tool calls
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
            self.running.add(key)
            # Every attempt says what it waits for, so progress lines can show how long.
            self.emit(
                ReplayEvent(
                    kind="started",
                    replay_id=self.replay_id,
                    request_id=key,
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
                    self.running.discard(key)
                    delay = self.retry.delay(attempt, failure.retry_after)
                    self.emit(
                        ReplayEvent(
                            kind="retried",
                            replay_id=self.replay_id,
                            request_id=key,
                            attempt=attempt,
                            message=f"{failure_error}; retrying in {delay:.1f}s",
                        )
                    )
                    await asyncio.sleep(delay)
                    continue
                await self.limiter.release()
                self.running.discard(key)
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
            self.running.discard(key)
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
        calls = agent.with_call_ids(output.tool_calls, key)
        return base.model_copy(
            update={
                "status": status,
                "response_body": response,
                "output_text": output.text,
                "tool_calls": calls,
                "tool_calls_changed": recorded_calls is not None
                and not same_tool_calls(recorded_calls, calls),
                "error": output.error,
                "http_status": 200,
                "latency_ms": latency,
                "ttft_ms": ttft,
                "prompt_tokens": output.prompt_tokens,
                "completion_tokens": output.completion_tokens,
                "attempts": attempt,
                "helicone_id": helicone_id,
                "similarity": None
                if output.error or not compare
                else _similarity_to_recorded(recorded_fmt, request, output.text, calls),
            }
        )

    def _body(
        self, item: PlannedRequest, *, check_tools: bool = True
    ) -> tuple[dict[str, Any], list[str]]:
        """The body to send: recorded outputs swapped for replayed ones, then the edits.

        `check_tools`: note recorded tool calls the replayed model did not make (not needed
        when the conversation is rebuilt from the replayed turns).
        """
        request: LoggedRequest = item.request
        body: dict[str, Any] = request.request_body
        diverged: list[str] = []
        replacements: dict[str, str] = {}
        for dep_id in item.depends_on:
            dep = self.items[dep_id]
            replayed = self.results[dep_id]
            new_text = replayed.effective_text.strip()
            if dep.recorded_text and new_text != dep.recorded_text:
                replacements[dep.recorded_text] = new_text
            if check_tools and dep_id in item.tool_depends_on and not same_tool_calls(
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
                replayed_turn=self._replayed_turn if self.agent else None,
            )
        body = self.spec.edits.apply(request, body)
        return body, diverged

def simulation_body(format_name: str, model: str, system: str, user: str) -> dict[str, Any]:
    """A one-question body in a recorded wire format, for the `llm` tool rule."""
    if format_name == "anthropic":
        return {"model": model, "max_tokens": 1024, "system": system,
                "messages": [{"role": "user", "content": user}]}
    if format_name == "responses":
        return {"model": model, "instructions": system, "input": user, "store": False}
    if format_name == "gemini":  # the model goes in the URL
        return {"systemInstruction": {"parts": [{"text": system}]},
                "contents": [{"role": "user", "parts": [{"text": user}]}]}
    return {"model": model, "messages": [{"role": "system", "content": system},
                                         {"role": "user", "content": user}]}


def _similarity_to_recorded(
    fmt: Any, request: LoggedRequest, text: str, calls: list[ToolCall]
) -> float | None:
    try:
        recorded = fmt.output(request.response_body)
    except (ValueError, TypeError, AttributeError, KeyError):
        return None  # a recorded response of an odd shape: no similarity, still a result
    return similarity(compared_answer(recorded.text, recorded.tool_calls),
                      compared_answer(text, calls))


def _raw_text(value: Any) -> str:
    if isinstance(value, str):
        return value[:MAX_RAW_BODY]
    try:
        return json.dumps(value)[:MAX_RAW_BODY]
    except (ValueError, TypeError, RecursionError):
        return repr(value)[:MAX_RAW_BODY]

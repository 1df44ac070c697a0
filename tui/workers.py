"""One route for worker outcomes, so every screen handles results and failures alike.

Thread workers post typed messages with their results; what is left for a screen is what
happens when a worker ends. `WorkerRoutes` sends each state change of a worker group to a
method named after it (`worker_success_<group>`, `worker_error_<group>`,
`worker_cancelled_<group>`, dashes read as underscores). A failure with no handler of its
own goes to the app's single error path (`report_error`), never to a traceback.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from textual.worker import Worker, WorkerState

T = TypeVar("T")

_STATES = {
    WorkerState.SUCCESS: "success",
    WorkerState.ERROR: "error",
    WorkerState.CANCELLED: "cancelled",
}


class WorkerRoutes:
    """Mix into a Screen: routes `Worker.StateChanged` by group (see the module doc)."""

    # Group -> the words a failure is reported with (default: "<group> failed").
    WORKER_ERRORS: dict[str, str] = {}

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        state = _STATES.get(event.state)
        group = (event.worker.group or "default").replace("-", "_")
        if state is None:
            return
        handler: Callable[[Worker[Any]], None] | None = getattr(
            self, f"worker_{state}_{group}", None
        )
        if handler is not None:
            handler(event.worker)
        elif state == "error":
            what = self.WORKER_ERRORS.get(event.worker.group, f"{event.worker.group} failed")
            self.app.report_error(what, event.worker.error or RuntimeError("unknown error"))  # type: ignore[attr-defined]


class EventBatcher(Generic[T]):
    """Collects events from an engine running in a worker thread and hands them to the UI
    in batches (one message per `interval`), so a fast replay never floods the event loop."""

    def __init__(self, post: Callable[[list[T]], object], interval: float = 0.05) -> None:
        self._post = post
        self._interval = interval
        self._pending: list[T] = []
        self._lock = threading.Lock()
        self._last = 0.0

    def add(self, event: T) -> None:
        with self._lock:
            self._pending.append(event)
        now = time.monotonic()
        if now - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        self._last = time.monotonic()
        if batch:
            self._post(batch)


def run_in_thread_loop(make: Callable[[], Awaitable[T]], stop: threading.Event,
                       batcher: EventBatcher[Any] | None = None) -> T:
    """Run an async engine on a private event loop inside a thread worker.

    The UI loop stays free of the engine's HTTP, SQLite writes and diffing. Setting `stop`
    (or cancelling the worker, as the app does on exit) cancels the engine, which records
    what finished before it returns; `CancelledError` then ends the worker as cancelled.
    """
    from textual.worker import get_current_worker

    worker = get_current_worker()

    async def main() -> T:
        task = asyncio.ensure_future(make())
        try:
            while not task.done():
                if stop.is_set() or worker.is_cancelled:
                    task.cancel()
                await asyncio.wait({task}, timeout=0.05)
                if batcher is not None:
                    batcher.flush()
            return task.result()
        finally:
            if batcher is not None:
                batcher.flush()

    return asyncio.run(main())

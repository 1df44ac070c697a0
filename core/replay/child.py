"""A replay in a process of its own, so that the app's screen never shares the interpreter
lock with the engine.

A replay's HTTP, parsing, diffing and SQLite writes take most of a core on a large session.
Run in a thread of the app, every frame the screen paints then waits for that thread between
its own steps, and a 40 ms frame takes 80-100 ms. In a process of its own the engine only
shares the machine.

The app starts `python -m core.replay` ahead of time (when the replay form opens), so
its imports are paid while the person reads the form. The job arrives on stdin as one JSON
line; engine events leave on stdout as JSON lines; `cancel` on stdin, or stdin closing
because the app went away, stops the run, which keeps what finished, as in-process.
Every line is validated on both sides (`ChildJob`, `ChildLine`).

A matrix (its cells' replays and their judges) runs the same way: the job names the matrix,
already created in the store, and its lines carry matrix events (`core.matrix_process`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Annotated, Generic, Literal, NoReturn, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from core.replay.models import Replay, ReplayEvent, ReplaySpec, ReplayTarget

MAX_LINE = 256 * 1024 * 1024  # one event line: a result with its full response and body
CANCEL_GRACE_S = 30.0  # after `cancel`, how long the run may take to record what finished


class ChildJob(BaseModel):
    """What the app asks the replay process to run: a replay (`spec`) or a matrix."""

    store_path: str = Field(max_length=4096)
    store_identity: tuple[int, int]  # (device, inode): the very file the app has open
    spec: ReplaySpec | None = None
    matrix_id: str | None = Field(default=None, max_length=200)  # a matrix to run or resume
    resume_id: str | None = Field(default=None, max_length=200)
    target: ReplayTarget | None = None
    tool_results: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_run(self) -> ChildJob:
        if (self.spec is None) == (self.matrix_id is None):
            raise ValueError("a job is a replay (spec) or a matrix (matrix_id), one of them")
        return self


class EventLine(BaseModel):
    kind: Literal["event"] = "event"
    event: ReplayEvent


class FinishedLine(BaseModel):
    kind: Literal["finished"] = "finished"
    replay: Replay


class CancelledLine(BaseModel):
    kind: Literal["cancelled"] = "cancelled"


class FailedLine(BaseModel):
    kind: Literal["failed"] = "failed"
    error_type: str = Field(max_length=200)
    message: str = Field(max_length=20_000)
    problem: str | None = Field(default=None, max_length=20_000)


L = TypeVar("L")
T = TypeVar("T")


class Lines(BaseModel, Generic[L]):
    """A line from the replay process, of one of the kinds in `L`."""

    line: L


class ChildLine(Lines[Annotated[EventLine | FinishedLine | CancelledLine | FailedLine,
                                Field(discriminator="kind")]]):
    """One line from a replay's process."""


class ReplayProcessFailed(RuntimeError):
    """The replay process ended without saying how the run ended."""


# -- the app's side ---------------------------------------------------------------------------
class ReplayProcess:
    """One replay process: started early, given one job, then done."""

    def __init__(self) -> None:
        # The person's environment, as the app has it: the keys a replay sends come from
        # there, never from the job.
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "core.replay"],  # core/replay/__main__.py: main() below
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl+C in the terminal reaches the app only
        )
        self._stderr: deque[str] = deque(maxlen=20)
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()
        self.used = False

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for raw in self._proc.stderr:
            text = raw.decode("utf-8", "replace").strip()
            if text:
                self._stderr.append(text[:500])

    def close(self, *, wait: bool = True) -> None:
        """Let an unused process go (it ends when stdin closes), or stop a stuck one."""
        with contextlib.suppress(OSError, ValueError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        if not wait:
            return
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def run(self, job: ChildJob, on_event: Callable[[ReplayEvent], object],
            should_stop: Callable[[], bool], tick: Callable[[], object] | None = None,
            ) -> Replay:
        """Send the job and follow the run: events go to `on_event` as they come.

        When `should_stop` turns true, the run is asked to cancel and `CancelledError` is
        raised once it has recorded what finished. Failures of the run raise the engine's
        own error types with its message; a process that dies says so, with its last words.
        """
        def line(raw: bytes | bytearray) -> Replay | None:
            parsed = self.parse(ChildLine, raw)
            if isinstance(parsed, EventLine):
                on_event(parsed.event)
                return None
            return parsed.replay if isinstance(parsed, FinishedLine) else run_ended(parsed)

        return self.follow(job, line, should_stop, tick)

    def follow(self, job: ChildJob, line: Callable[[bytes | bytearray], T | None],
               should_stop: Callable[[], bool], tick: Callable[[], object] | None = None,
               ) -> T:
        """Send the job, then hand each line to `line` until it says how the run ended."""
        if self.used:
            raise RuntimeError("a replay process runs one replay")
        self.used = True
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(job.model_dump_json().encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None
        cancel_sent_at: float | None = None
        buffer = bytearray()
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            try:
                while True:
                    if cancel_sent_at is None and should_stop():
                        cancel_sent_at = time.monotonic()
                        with contextlib.suppress(OSError, ValueError):
                            proc.stdin.write(b"cancel\n")
                            proc.stdin.flush()
                    if (cancel_sent_at is not None
                            and time.monotonic() - cancel_sent_at > CANCEL_GRACE_S):
                        proc.kill()
                        raise asyncio.CancelledError
                    if selector.select(0.05):
                        chunk = os.read(fd, 1 << 20)
                        if not chunk:
                            raise self._died()
                        buffer += chunk
                        lines = buffer.split(b"\n") if b"\n" in chunk else [buffer]
                        buffer = lines.pop()  # the start of the next line
                        if len(buffer) > MAX_LINE:
                            proc.kill()
                            raise ReplayProcessFailed("the replay process sent a line too long")
                        for raw in lines:
                            ended = line(raw)
                            if ended is not None:
                                return ended
                    if tick is not None:
                        tick()
            finally:
                if tick is not None:
                    tick()
                self.close()

    def parse(self, lines: type[Lines[L]], raw: bytes | bytearray) -> L:
        """One line, validated; anything else ends the process and the run."""
        try:
            return lines.model_validate_json(b'{"line":' + raw + b"}").line
        except ValidationError:
            self._proc.kill()
            raise ReplayProcessFailed(
                "the replay process sent a line that is not a replay event") from None

    def _died(self) -> ReplayProcessFailed:
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait(timeout=5)
        self._stderr_reader.join(timeout=1)
        last = self._stderr[-1] if self._stderr else "no message"
        return ReplayProcessFailed(
            f"the replay process ended unexpectedly (exit status {code}): {last}")


def run_ended(line: CancelledLine | FailedLine) -> NoReturn:
    """A run that ended without a result: cancelled, or failed with the engine's error."""
    if isinstance(line, CancelledLine):
        raise asyncio.CancelledError
    raise _error(line)


def _error(line: FailedLine) -> Exception:
    """The engine's own error type again, so callers catch what they would in-process."""
    from core.keys import KeyInvalid
    from core.replay.transport import TargetRefused
    from core.store.schema import StoreError

    if line.error_type == "TargetRefused":
        return TargetRefused(line.message, problem=line.problem)
    kinds: dict[str, type[Exception]] = {
        "KeyInvalid": KeyInvalid, "StoreError": StoreError, "ValueError": ValueError,
    }
    return kinds.get(line.error_type, RuntimeError)(line.message)


class SpareProcess:
    """One replay process started ahead of the run that will take it (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: ReplayProcess | None = None

    def prepare(self) -> None:
        """Start a process now, unless one is waiting (call from a worker thread)."""
        with self._lock:
            if self._spare is None or not self._spare.alive:
                self._spare = ReplayProcess()

    def take(self) -> ReplayProcess:
        """The waiting process, or a new one (which pays its start now)."""
        with self._lock:
            spare, self._spare = self._spare, None
        return spare if spare is not None and spare.alive else ReplayProcess()

    def release(self) -> None:
        """Let a waiting process go; it ends on its own when its stdin closes."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.close(wait=False)


def job_for(store: object, spec: ReplaySpec, *, resume_id: str | None = None,
            target: ReplayTarget | None = None,
            tool_results: dict[str, str] | None = None) -> ChildJob:
    """The job for a replay of `store` (an open `core.store.Store`)."""
    from core.store import Store

    assert isinstance(store, Store)
    store.check_alive()  # the process opens the file by name: it must still be this one
    return ChildJob(store_path=str(store.path), store_identity=store.identity, spec=spec,
                    resume_id=resume_id, target=target, tool_results=tool_results)


def job_for_matrix(store: object, matrix_id: str, *,
                   target: ReplayTarget | None = None) -> ChildJob:
    """The job for running (or resuming) matrix `matrix_id` of `store`."""
    from core.store import Store

    assert isinstance(store, Store)
    store.check_alive()
    return ChildJob(store_path=str(store.path), store_identity=store.identity,
                    matrix_id=matrix_id, target=target)


# -- the replay process's side ---------------------------------------------------------------
class _Out:
    """Lines to the app; once the app has gone, they are dropped (the run still saves)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gone = False

    def send(self, line: BaseModel) -> None:
        data = line.model_dump_json().encode() + b"\n"
        with self._lock:
            if self._gone:
                return
            try:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._gone = True


async def _run(job: ChildJob, out: _Out) -> None:
    from core.replay.engine import run_replay
    from core.replay.transport import TargetRefused
    from core.store import Store
    from core.store.schema import StoreError, replaced

    try:
        info = os.stat(job.store_path)
        if (info.st_dev, info.st_ino) != tuple(job.store_identity):
            raise FileNotFoundError
    except OSError:  # opening it by name now would create a new, empty store
        out.send(FailedLine(error_type="StoreError", message=replaced(job.store_path)))
        return
    loop = asyncio.get_running_loop()
    try:
        store = Store(job.store_path)
    except StoreError as exc:
        out.send(FailedLine(error_type="StoreError", message=str(exc)))
        return
    async def replayed(spec: ReplaySpec) -> BaseModel:
        return FinishedLine(replay=await run_replay(
            store, spec, on_event=lambda event: out.send(EventLine(event=event)),
            resume_id=job.resume_id, target=job.target, tool_results=job.tool_results))

    try:
        task: asyncio.Future[BaseModel]
        if job.matrix_id is not None:
            from core.matrix_process import run_matrix_lines

            task = asyncio.ensure_future(
                run_matrix_lines(store, job.matrix_id, job.target, out.send))
        else:
            assert job.spec is not None
            task = asyncio.ensure_future(replayed(job.spec))

        def listen() -> None:
            """`cancel`, or the app closing stdin, stops the run."""
            for raw in sys.stdin.buffer:
                if raw.strip() == b"cancel":
                    break
            loop.call_soon_threadsafe(task.cancel)

        threading.Thread(target=listen, daemon=True).start()
        try:
            finished = await task
        except asyncio.CancelledError:
            out.send(CancelledLine())
        except Exception as exc:  # the run failed: the app shows why, in one line
            problem = exc.problem if isinstance(exc, TargetRefused) else None
            out.send(FailedLine(error_type=type(exc).__name__, message=str(exc)[:20_000],
                                problem=problem[:20_000] if problem else None))
        else:
            out.send(finished)
    finally:
        store.close()


def main() -> int:
    import core.replay.engine  # noqa: F401  (loaded before the job comes: see the module)

    raw = sys.stdin.buffer.readline(MAX_LINE)
    if not raw.strip():
        return 0  # started ahead of time and never needed
    out = _Out()
    try:
        job = ChildJob.model_validate_json(raw)
    except ValidationError as exc:
        out.send(FailedLine(error_type="ValueError",
                            message=f"not a replay job: {exc.errors()[0]['msg']}"))
        return 1
    asyncio.run(_run(job, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The parts of the tool environment that run something: a local command, an MCP server.

Each returns `(text, is_error)` and never raises for what the tool does: a missing command,
a hang, a crash, non-UTF-8 or oversized output all become an error result with a clear
reason, and the replay goes on. Neither ever sees an API key: the environment they get has
every variable that looks like a credential removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from typing import Any

from core.formats import ToolCall

MAX_OUTPUT_BYTES = 1_000_000
MAX_STDERR_BYTES = 65_536
_SECRET_NAME = re.compile(
    r"(API_?KEY|ACCESS_?KEY|_KEY$|^KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)",
    re.IGNORECASE,
)


def scrubbed_environ(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment without anything that could be a key, token or password."""
    source = dict(os.environ if environ is None else environ)
    return {k: v for k, v in source.items() if not _SECRET_NAME.search(k)}


def call_payload(call: ToolCall) -> dict[str, Any]:
    """What a tool command reads on stdin: name, arguments (parsed when JSON) and id."""
    try:
        arguments: Any = json.loads(call.arguments or "{}")
    except ValueError:
        arguments = call.arguments
    return {"name": call.name, "arguments": arguments, "id": call.id}


async def run_exec(argv: list[str], call: ToolCall, *, timeout_s: float = 30.0) -> tuple[str, bool]:
    """Run `argv` (no shell) with the call as JSON on stdin; stdout is the result."""
    name = argv[0] if argv else "?"
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=scrubbed_environ(),
            start_new_session=True,
        )
    except FileNotFoundError:
        return f"Error: tool command not found: {name}", True
    except PermissionError:
        return f"Error: tool command is not executable: {name}", True
    except OSError as exc:
        return f"Error: cannot start tool command {name}: {exc.strerror or exc}", True
    payload = json.dumps(call_payload(call), ensure_ascii=False).encode()
    try:
        stdout, stderr, too_big = await asyncio.wait_for(
            _communicate(process, payload), timeout=timeout_s
        )
    except TimeoutError:
        _kill(process)
        await _reaped(process)
        return f"Error: tool command {name} timed out after {timeout_s:g} s", True
    except BaseException:
        _kill(process)
        raise
    if too_big:
        _kill(process)
        await _reaped(process)
        return f"Error: tool command {name} printed more than {MAX_OUTPUT_BYTES // 1_000_000} MB", True
    code = await _reaped(process)
    if code is None:
        _kill(process)
        return f"Error: tool command {name} did not exit after closing its output", True
    if code != 0:
        lines = [ln for ln in stderr.decode("utf-8", errors="replace").splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else "no message on stderr"
        return f"Error: tool command {name} exited with status {code}: {last[:500]}", True
    try:
        return stdout.decode("utf-8"), False
    except UnicodeDecodeError:
        return f"Error: tool command {name} printed output that is not UTF-8 text", True


async def _communicate(
    process: asyncio.subprocess.Process, payload: bytes
) -> tuple[bytes, bytes, bool]:
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None

    async def feed() -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(payload)  # type: ignore[union-attr]
            await process.stdin.drain()  # type: ignore[union-attr]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.close()  # type: ignore[union-attr]

    async def drain(stream: asyncio.StreamReader, cap: int, keep_tail: bool) -> tuple[bytes, bool]:
        data = bytearray()
        while chunk := await stream.read(65_536):
            data += chunk
            if len(data) > cap:
                if not keep_tail:
                    return bytes(data[:cap]), True
                del data[: len(data) - cap]
        return bytes(data), False

    feeding = asyncio.create_task(feed())
    errors = asyncio.create_task(drain(process.stderr, MAX_STDERR_BYTES, True))
    try:
        stdout, too_big = await drain(process.stdout, MAX_OUTPUT_BYTES, False)
        if too_big:
            return stdout, b"", True
        stderr, _ = await errors
        await feeding
        return stdout, stderr, False
    finally:
        for task in (feeding, errors):
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


async def _reaped(process: asyncio.subprocess.Process, within_s: float = 5.0) -> int | None:
    """The exit status, waited for at most `within_s`: a lost child-exit notice never hangs a replay."""
    try:
        return await asyncio.wait_for(process.wait(), timeout=within_s)
    except TimeoutError:
        return process.returncode


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, 9)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


class McpServer:
    """One MCP server over stdio for the length of a replay, started on its first call.

    The `mcp` SDK's streams must be opened and closed by the same task, so one background
    task owns the session and serves calls from a queue; `aclose()` ends it cleanly (the SDK
    closes stdin, then terminates the process if it does not exit).
    """

    def __init__(self, argv: list[str], *, timeout_s: float = 30.0) -> None:
        self.argv = argv
        self.timeout_s = timeout_s
        self._queue: asyncio.Queue[tuple[ToolCall, asyncio.Future[tuple[str, bool]]] | None] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[str | None] | None = None
        self._failed: str | None = None  # why the server stopped serving, once it has

    async def call(self, call: ToolCall) -> tuple[str, bool]:
        name = self.argv[0] if self.argv else "?"
        if self._task is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._serve())
        assert self._ready is not None
        try:
            problem = await asyncio.wait_for(asyncio.shield(self._ready), timeout=self.timeout_s)
        except TimeoutError:
            return f"Error: MCP server {name} did not start within {self.timeout_s:g} s", True
        if problem is not None:
            return problem, True
        if self._task.done():  # it stopped after starting: nobody would read the queue
            return self._failed or f"Error: MCP server {name} stopped", True
        future: asyncio.Future[tuple[str, bool]] = asyncio.get_running_loop().create_future()
        await self._queue.put((call, future))
        try:
            return await asyncio.wait_for(future, timeout=self.timeout_s)
        except TimeoutError:
            return f"Error: MCP tool {call.name} did not answer within {self.timeout_s:g} s", True

    async def _serve(self) -> None:
        assert self._ready is not None
        name = self.argv[0] if self.argv else "?"
        try:
            from mcp import ClientSession, StdioServerParameters
            from mcp.client.stdio import stdio_client
        except ImportError:
            self._ready.set_result(
                "Error: the mcp rule needs the MCP SDK: pip install 'reprise-tui[mcp]'")
            return
        params = StdioServerParameters(
            command=self.argv[0], args=self.argv[1:], env=scrubbed_environ()
        )
        try:
            with open(os.devnull, "w") as errlog:
                async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(
                    read, write
                ) as session:
                    await session.initialize()
                    if not self._ready.done():
                        self._ready.set_result(None)
                    while (item := await self._queue.get()) is not None:
                        call, future = item
                        result = await self._one(session, call)
                        if not future.done():
                            future.set_result(result)
        except Exception as exc:  # a server that cannot start or dies: each call says so
            reason = f"Error: MCP server {name} failed: {type(exc).__name__}: {exc}"[:1000]
            if not self._ready.done():
                self._ready.set_result(reason)
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None and not item[1].done():
                    item[1].set_result((reason, True))
            self._failed = reason
        finally:
            if not self._ready.done():
                self._ready.set_result(f"Error: MCP server {name} stopped")

    async def _one(self, session: Any, call: ToolCall) -> tuple[str, bool]:
        payload = call_payload(call)
        arguments = payload["arguments"] if isinstance(payload["arguments"], dict) else {}
        try:
            result = await session.call_tool(call.name, arguments)
        except Exception as exc:
            return f"Error: MCP tool {call.name} failed: {exc}"[:2000], True
        texts = []
        for block in getattr(result, "content", None) or []:
            text = getattr(block, "text", None)
            if isinstance(text, str):
                texts.append(text)
            else:
                dump = block.model_dump() if hasattr(block, "model_dump") else str(block)
                texts.append(json.dumps(dump, default=str) if isinstance(dump, dict) else dump)
        is_error = bool(getattr(result, "is_error", None) or getattr(result, "isError", None))
        return "\n".join(texts), is_error

    async def aclose(self) -> None:
        if self._task is None:
            return
        await self._queue.put(None)
        try:
            await asyncio.wait_for(self._task, timeout=10)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

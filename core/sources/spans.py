"""From spans to calls: which spans are LLM calls, their session paths, and shared helpers.

A trace is a tree of spans; only some are LLM calls. Each convention module
(`otel.py` for OpenTelemetry GenAI, `openinference.py` for OpenInference) says whether a
span is a call and reads it; this module walks a batch of spans, gives each call the path of
its ancestors' names (so an agent's steps form a tree in reprise) and collects errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from core.sources.calls import Call
from core.sources.otlp import Span

MAX_PATH_DEPTH = 32


class SpanIndex:
    """Names and parents of spans seen so far, to build paths from ancestry."""

    def __init__(self, spans: Iterable[Span] = ()) -> None:
        self.spans: dict[str, Span] = {}
        self.add(spans)

    def add(self, spans: Iterable[Span]) -> None:
        for span in spans:
            self.spans[span.span_id] = span

    def ancestors(self, span: Span) -> list[Span]:
        """Known ancestors, root first (stops at an unknown parent or a cycle)."""
        chain: list[Span] = []
        seen = {span.span_id}
        parent = span.parent_id
        while parent and parent in self.spans and parent not in seen and len(chain) < MAX_PATH_DEPTH:
            seen.add(parent)
            node = self.spans[parent]
            chain.append(node)
            parent = node.parent_id
        return list(reversed(chain))

    def path(self, span: Span) -> str:
        names = [_segment(s.name) for s in self.ancestors(span)]
        return "/" + "/".join(n for n in names if n)

    def root_name(self, span: Span) -> str:
        chain = self.ancestors(span)
        return (chain[0] if chain else span).name


def _segment(name: str) -> str:
    return " ".join(name.replace("/", " ").split())[:200]


def calls_from_spans(spans: list[Span], index: SpanIndex | None = None) -> tuple[list[Call], list[str]]:
    """The LLM calls among `spans`, each with its session path; unreadable spans are errors."""
    from core.sources import openinference, otel

    index = index or SpanIndex()
    index.add(spans)
    calls: list[Call] = []
    errors: list[str] = []
    for span in spans:
        try:
            if openinference.is_llm_span(span.attributes):
                call = openinference.call_from_span(span, index)
            elif otel.is_llm_span(span.attributes):
                call = otel.call_from_span(span, index)
            else:
                continue
        except (ValidationError, ValueError, TypeError, KeyError, RecursionError) as exc:
            errors.append(f"span {span.span_id} ({span.name[:60]}): {one_line(exc)}")
            continue
        calls.append(call)
    return calls, errors


# -- helpers shared by the convention modules ------------------------------------------------
def parse_jsonish(value: Any) -> Any:
    """Attribute values that carry JSON as text (most instrumentations) become structures."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("[", "{"):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                return value
    return value


def flatten(value: Any, prefix: str = "", out: dict[str, Any] | None = None,
            depth: int = 0) -> dict[str, Any]:
    """Nested dicts and lists as dotted keys: `{"a": [{"b": 1}]}` → `{"a.0.b": 1}`."""
    out = {} if out is None else out
    if depth > 64:
        raise ValueError("value nested too deeply")
    if isinstance(value, dict) and value:
        for key, item in value.items():
            flatten(item, f"{prefix}.{key}" if prefix else str(key), out, depth + 1)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for number, item in enumerate(value):
            flatten(item, f"{prefix}.{number}" if prefix else str(number), out, depth + 1)
    else:
        out[prefix] = value
    return out


def indexed(attributes: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Items of flattened `PREFIX.N.rest` keys, in N order, each as `{rest: value}`."""
    groups: dict[int, dict[str, Any]] = {}
    dotted = prefix + "."
    for key, value in attributes.items():
        if not key.startswith(dotted):
            continue
        number, _, rest = key[len(dotted):].partition(".")
        if not number.isdigit() or not rest:
            continue
        groups.setdefault(int(number), {})[rest] = value
    return [groups[n] for n in sorted(groups)]


def text_of(content: Any) -> str:
    """Message content in any common shape (string, parts list, {"text": …}) as text."""
    content = parse_jsonish(content) if isinstance(content, str) and content[:1] == "[" else content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                for key in ("text", "content"):
                    if isinstance(part.get(key), str):
                        texts.append(part[key])
                        break
        return "".join(texts)
    if isinstance(content, dict):
        for key in ("text", "content"):
            if isinstance(content.get(key), str):
                return content[key]
        return json.dumps(content, ensure_ascii=False)
    return str(content)


def number(value: Any) -> float | None:
    from core.parsing import parse_float

    try:
        return parse_float(value)
    except ValueError:
        return None


def integer(value: Any) -> int | None:
    from core.parsing import parse_int

    try:
        return parse_int(value)
    except ValueError:
        return None


def one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return " ".join(str(exc).split()) or type(exc).__name__

"""Generated repetitive and structured texts with sparse edits, for diff tests and benches.

Every family builds a text of about ``n`` non-whitespace tokens from a seeded
``random.Random`` and an edited copy where at most ``fraction`` of the tokens changed.
The families are what LLM answers look like where a word diff has no unique anchors:
JSON with repeated keys and values (compact and indented), Markdown tables, log lines,
code with repeated lines, numbered lists, small-vocabulary prose with repeated fenced
blocks, and plain prose.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from core.diff import tokenize

LABELS = ["alpha", "beta", "gamma", "delta", "ok", "fail", "pending"]
TAGS = ["x", "y", "z", "new", "old"]


def _words(text: str) -> list[str]:
    return text.split()


SMALL_VOCAB = _words(
    "the model a value is of to and in returns cache call it for test data run step"
)
PROSE_VOCAB = _words(
    "the of and to a in is that it for as with on be this are by you can or an not from "
    "at which we will if more have your use when all each but one these model response "
    "prompt token context output input function value request server cache latency system "
    "user message replay session branch tree diff word line file code error result test "
    "example data string number list field config option default parameter temperature "
    "sample score metric agent tool call argument return type class method module import "
    "package version build release document section table column row index query filter"
)


def keys(text: str) -> list[str]:
    """Non-whitespace tokens: what the diff counts."""
    return [t for t in tokenize(text) if not t.isspace()]


# --------------------------------------------------------------------------- JSON


def _records(rng: random.Random, n_tokens: int) -> list[dict[str, object]]:
    # one record is about 36 tokens
    return [
        {
            "id": i % 50,
            "label": rng.choice(LABELS),
            "score": rng.randint(0, 9),
            "tags": rng.sample(TAGS, rng.randint(1, 3)),
        }
        for i in range(max(1, n_tokens // 36))
    ]


def _edit_records(
    rng: random.Random, records: list[dict[str, object]], fraction: float
) -> list[dict[str, object]]:
    """Change about ``fraction`` of the values (ids, labels, scores, tags)."""
    out = json.loads(json.dumps(records))
    values = 6 * len(out)
    for _ in range(max(1, int(values * fraction)) if fraction else 0):
        rec = rng.choice(out)
        field = rng.choice(["id", "label", "score", "tags"])
        if field == "id":
            rec["id"] = rng.randint(0, 49)
        elif field == "label":
            rec["label"] = rng.choice(LABELS)
        elif field == "score":
            rec["score"] = rng.randint(0, 9)
        else:
            tags = rec["tags"]
            assert isinstance(tags, list)
            tags[rng.randrange(len(tags))] = rng.choice(TAGS)
    return out


def json_compact(rng: random.Random, n: int, fraction: float) -> tuple[str, str]:
    recs = _records(rng, n)
    return json.dumps({"items": recs}), json.dumps({"items": _edit_records(rng, recs, fraction)})


def json_indented(rng: random.Random, n: int, fraction: float) -> tuple[str, str]:
    recs = _records(rng, n)
    a = json.dumps({"items": recs}, indent=2)
    return a, json.dumps({"items": _edit_records(rng, recs, fraction)}, indent=2)


# --------------------------------------------------------------------------- token edits


def edit_tokens(rng: random.Random, text: str, fraction: float) -> str:
    """Replace, delete or insert spans of 1-3 words until ``fraction`` of the tokens changed.

    New words come from the text itself, so edits keep it as repetitive as it was.
    Whitespace is left alone; a deleted word leaves its spaces behind.
    """
    toks = tokenize(text)
    pos = [i for i, t in enumerate(toks) if not t.isspace()]
    if not pos:
        return text
    vocab = [toks[i] for i in pos]
    budget = int(len(pos) * fraction)
    slots: dict[int, list[str] | None] = {}  # token index -> replacement (None: delete)
    inserts: dict[int, list[str]] = {}
    while budget > 0:
        start = rng.randrange(len(pos))
        span = min(rng.randint(1, 3), budget, len(pos) - start)
        action = rng.random()
        if action < 0.6:
            for k in range(start, start + span):
                slots[pos[k]] = [rng.choice(vocab)]
        elif action < 0.8:
            for k in range(start, start + span):
                slots[pos[k]] = None
        else:
            words = [rng.choice(vocab) for _ in range(span)]
            inserts[pos[start]] = [w + " " for w in words]
        budget -= span
    out: list[str] = []
    for i, tok in enumerate(toks):
        out.extend(inserts.get(i, ()))
        if i in slots:
            new = slots[i]
            if new is not None:
                out.extend(new)
        else:
            out.append(tok)
    return "".join(out)


def _edited(make: Callable[[random.Random, int], str]) -> Callable[..., tuple[str, str]]:
    def family(rng: random.Random, n: int, fraction: float) -> tuple[str, str]:
        a = make(rng, n)
        return a, edit_tokens(rng, a, fraction)

    family.__name__ = make.__name__
    return family


def _table(rng: random.Random, n: int) -> str:
    lines = ["| name | status | count | note |", "| --- | --- | --- | --- |"]
    for _ in range(max(1, n // 10)):  # a row is 10 tokens
        lines.append(
            f"| {rng.choice(LABELS)} | {rng.choice(['ok', 'fail', 'ok'])} | "
            f"{rng.randint(0, 20)} | {rng.choice(TAGS)} |"
        )
    return "\n".join(lines) + "\n"


def _logs(rng: random.Random, n: int) -> str:
    lines = []
    for k in range(max(1, n // 16)):  # a line is about 16 tokens
        level = rng.choice(["INFO", "INFO", "INFO", "WARN", "ERROR"])
        lines.append(
            f"2024-05-01 12:{k // 60 % 60:02d}:{k % 60:02d} {level} worker-{rng.randint(1, 4)} "
            f"request {rng.choice(['done', 'queued', 'retry'])} in {rng.randint(1, 30)} ms"
        )
    return "\n".join(lines) + "\n"


def _code(rng: random.Random, n: int) -> str:
    body = [
        "    if value is None:",
        "        return None",
        "    result = cache.get(key)",
        "    if result is None:",
        "        result = compute(value)",
        "    return result",
        "    pass",
    ]
    lines: list[str] = []
    count = 0
    k = 0
    while count < n:
        lines.append(f"def handler_{k % 7}(value, key):")
        lines += [rng.choice(body) for _ in range(rng.randint(2, 6))]
        lines.append("")
        count = sum(len(keys(line)) for line in lines)
        k += 1
    return "\n".join(lines) + "\n"


def _numbered(rng: random.Random, n: int) -> str:
    lines = []
    for k in range(1, max(2, n // 9)):  # an item is about 9 tokens
        verb = rng.choice(["Check", "Run", "Open", "Close", "Check"])
        lines.append(f"{k}. {verb} the {rng.choice(SMALL_VOCAB)} {rng.choice(SMALL_VOCAB)}.")
    return "\n".join(lines) + "\n"


FENCE = "```python\nresult = cache.get(key)\nif result is None:\n    return None\n```"


def _small_vocab_prose(rng: random.Random, n: int) -> str:
    parts: list[str] = []
    count = 0
    while count < n:
        if rng.random() < 0.2:
            parts.append(FENCE)
            count += 16
        else:
            words = [rng.choice(SMALL_VOCAB) for _ in range(rng.randint(10, 40))]
            parts.append(" ".join(words) + ".")
            count += len(words) + 1
    return "\n\n".join(parts) + "\n"


def _prose(rng: random.Random, n: int) -> str:
    parts: list[str] = []
    count = 0
    while count < n:
        words = [rng.choice(PROSE_VOCAB) for _ in range(rng.randint(20, 80))]
        words[0] = words[0].capitalize()
        for k in range(8, len(words) - 1, rng.randint(8, 15)):
            words[k] += rng.choice([",", "."])
        parts.append(" ".join(words) + ".")
        count += len(keys(parts[-1]))
    return "\n\n".join(parts) + "\n"


FAMILIES: dict[str, Callable[[random.Random, int, float], tuple[str, str]]] = {
    "json-compact": json_compact,
    "json-indented": json_indented,
    "md-table": _edited(_table),
    "log-lines": _edited(_logs),
    "code-repeated": _edited(_code),
    "numbered-list": _edited(_numbered),
    "vocab+fences": _edited(_small_vocab_prose),
    "prose": _edited(_prose),
}


def make(family: str, n: int, fraction: float, seed: int) -> tuple[str, str]:
    """Two texts of about ``n`` tokens from one family, the second edited sparsely."""
    return FAMILIES[family](random.Random(seed), n, fraction)


# --------------------------------------------------------------------------- the cases


def json_800_records(seed: int = 0, records: int = 800) -> tuple[str, str]:
    """800 records ``{"id": i % 50, "label", "score", "tags"}``, 4 % of the values changed."""
    rng = random.Random(seed)
    recs = _records(rng, 36 * records)
    return json.dumps(recs), json.dumps(_edit_records(rng, recs, 0.04))


def vocab_fences(seed: int = 0, words: int = 10_000) -> tuple[str, str]:
    """Small-vocabulary prose with identical fenced code blocks, 5 % of the words changed."""
    rng = random.Random(seed)
    a = _small_vocab_prose(rng, words)
    return a, edit_tokens(rng, a, 0.05)

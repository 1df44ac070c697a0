"""How requests and edits are named for people: by path, never by UUID; by what changed.

A request is named by its session path (without the prefix every request of the session
shares) and its prompt id; where that name repeats, `#n` numbers the occurrences in session
order. An edit is summarised by the words it adds, removes or replaces, not by its first words.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol


class _Named(Protocol):
    id: str
    session_path: str
    prompt_id: str | None


def _segments(path: str) -> list[str]:
    return [part for part in (path or "").split("/") if part]


def request_labels(requests: Sequence[_Named]) -> dict[str, str]:
    """Request id -> `turn-2 · argument-evaluation #2` for the requests of one session."""
    paths = [_segments(r.session_path) for r in requests]
    common = 0
    if paths:
        shortest = min(len(p) for p in paths)
        while common < shortest and len({tuple(p[: common + 1]) for p in paths}) == 1:
            common += 1
    bases: list[str] = []
    for request, parts in zip(requests, paths, strict=True):
        rest = parts[common:] or parts[-1:]
        base = "/".join(rest)
        prompt = request.prompt_id
        if prompt and (not rest or prompt != rest[-1]):
            base = f"{base} · {prompt}" if base else prompt
        bases.append(base or request.id[:8])
    totals = Counter(bases)
    seen: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for request, base in zip(requests, bases, strict=True):
        seen[base] += 1
        labels[request.id] = f"{base} #{seen[base]}" if totals[base] > 1 else base
    return labels


def fit(label: str, width: int) -> str:
    """`label` in `width` cells, cut in the middle of the name so a trailing `#n` stays."""
    if len(label) <= width:
        return label
    if width <= 1:
        return "…"[:width]
    match = re.search(r" #\d+$", label)
    suffix = match.group(0) if match else ""
    head = label[: len(label) - len(suffix)]
    room = max(1, width - len(suffix) - 1)
    return head[:room] + "…" + suffix


def _quote(words: Iterable[str], limit: int = 6) -> str:
    words = list(words)
    text = " ".join(words[:limit]) + (" …" if len(words) > limit else "")
    return f"“{text}”"


def describe_change(old: str, new: str, *, limit: int = 2) -> str:
    """`adds “Be strict.” at the end`, `“1 to 10” → “1 to 5”`, `removes “…”` (words).

    At most `limit` changes are spelled out; the rest are counted.
    """
    before, after = old.split(), new.split()
    if before == after:
        return "no change" if old == new else "whitespace only"
    if not before:
        return f"new prompt {_quote(after)}"
    if not after:
        return "empties the prompt"
    ops = [op for op in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
           if op[0] != "equal"]
    parts: list[str] = []
    for tag, i1, i2, j1, j2 in ops[:limit]:
        if tag == "insert":
            where = (" at the end" if i1 == len(before)
                     else " at the start" if i1 == 0 else f" before “{before[i1]}”")
            parts.append(f"adds {_quote(after[j1:j2])}{where}")
        elif tag == "delete":
            parts.append(f"removes {_quote(before[i1:i2])}")
        else:
            parts.append(f"{_quote(before[i1:i2], 4)} → {_quote(after[j1:j2], 4)}")
    if len(ops) > limit:
        parts.append(f"+{len(ops) - limit} more change{'s' if len(ops) - limit > 1 else ''}")
    return "; ".join(parts)

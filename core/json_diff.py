"""Structural diff of two JSON values: what changed, listed by JSON path.

When both answers are JSON (or a fenced ```json block is the whole answer), a word diff
of the text is the wrong lens: a user wants ``$.items[12].score: 5 → 6``. Objects are
compared key by key; arrays are aligned first (equal elements matched in order by the
same matcher as the word diff), so an inserted element is one ``added`` line instead of
every later element shown as changed. Unmatched elements between two aligned ones are
paired by similarity and compared recursively; the rest are added or removed.
JSON held in strings (tool-call ``arguments``) is parsed first, as for ``diff_json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from core.diff import DiffOp, DiffResult, decode_nested
from core.diff_match import match_runs, trace_pairs

__all__ = [
    "JsonChange",
    "format_change",
    "json_changes",
    "parse_json_answer",
    "structural_result",
]

_MISSING: Any = object()
_FENCE = re.compile(r"\A\s*```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)\n[ \t]*```\s*\Z", re.DOTALL)
# Gaps of unaligned array elements up to this many pairs are paired by similarity.
_PAIR_CELLS = 1_024
# Values longer than this are cut in the change list (the word diff still shows them all).
_SHOWN = 200


@dataclass(frozen=True, slots=True)
class JsonChange:
    """One difference: ``old`` is absent for ``added``, ``new`` for ``removed``."""

    kind: str  # "changed" | "added" | "removed"
    path: str
    old: Any = None
    new: Any = None


def parse_json_answer(text: str) -> tuple[bool, Any]:
    """The JSON object or array an answer consists of: the whole text, or a fenced block
    (```json … ```) that is the whole answer. ``(False, None)`` for anything else."""
    for candidate in (text, (m.group(1) if (m := _FENCE.match(text)) else None)):
        if candidate is None or candidate.strip()[:1] not in ("{", "["):
            continue
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict | list):
            return True, value
    return False, None


def _key_path(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _similarity(a: Any, b: Any) -> float:
    """How alike two unaligned values are, for pairing array elements (0..1)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if not a and not b:
            return 1.0
        same = sum(1 for k, v in a.items() if k in b and _canonical(b[k]) == _canonical(v))
        return same / max(len(a), len(b))
    if isinstance(a, list) and isinstance(b, list):
        return 0.5
    return 0.0


class _Differ:
    def __init__(self) -> None:
        self.out: list[JsonChange] = []

    def value(self, path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            self.object(path, a, b)
        elif isinstance(a, list) and isinstance(b, list):
            self.array(path, a, b)
        elif type(a) is not type(b) or _canonical(a) != _canonical(b):  # NaN equals NaN
            self.out.append(JsonChange("changed", path, a, b))

    def object(self, path: str, a: dict[str, Any], b: dict[str, Any]) -> None:
        for key, old in a.items():
            sub = _key_path(path, key)
            if key in b:
                self.value(sub, old, b[key])
            else:
                self.out.append(JsonChange("removed", sub, old=old))
        for key, new in b.items():
            if key not in a:
                self.out.append(JsonChange("added", _key_path(path, key), new=new))

    def array(self, path: str, a: list[Any], b: list[Any]) -> None:
        table: dict[str, int] = {}
        ia = [table.setdefault(_canonical(x), len(table)) for x in a]
        ib = [table.setdefault(_canonical(x), len(table)) for x in b]
        pa = pb = 0
        for i, j, n in [*match_runs(ia, ib), (len(a), len(b), 0)]:
            if pa < i or pb < j:
                self.gap(path, a, b, pa, i, pb, j)
            pa, pb = i + n, j + n

    def gap(self, path: str, a: list[Any], b: list[Any], alo: int, ahi: int, blo: int, bhi: int) -> None:
        """Unaligned elements: pair the alike ones in order, the rest are removed/added."""
        na, nb = ahi - alo, bhi - blo
        if na == nb or na * nb > _PAIR_CELLS:
            k = min(na, nb)
            pairs = [(alo + t, blo + t) for t in range(k)]
        else:
            pairs = _pair(a, b, alo, ahi, blo, bhi)
        pi, pj = alo, blo
        for i, j in [*pairs, (ahi, bhi)]:
            for r in range(pi, i):
                self.out.append(JsonChange("removed", f"{path}[{r}]", old=a[r]))
            for s in range(pj, j):
                self.out.append(JsonChange("added", f"{path}[{s}]", new=b[s]))
            if i < ahi:
                self.value(f"{path}[{j}]", a[i], b[j])
            pi, pj = i + 1, j + 1


def _pair(a: list[Any], b: list[Any], alo: int, ahi: int, blo: int, bhi: int) -> list[tuple[int, int]]:
    """In-order pairs of alike elements maximising total similarity (small DP)."""
    na, nb = ahi - alo, bhi - blo
    best = [[0.0] * (nb + 1) for _ in range(na + 1)]
    for i in range(na):
        for j in range(nb):
            sim = _similarity(a[alo + i], b[blo + j])
            take = best[i][j] + sim if sim > 0 else -1.0
            best[i + 1][j + 1] = max(best[i][j + 1], best[i + 1][j], take)
    return trace_pairs(best, alo, blo)


def json_changes(a: Any, b: Any) -> list[JsonChange] | None:
    """Changes from ``a`` to ``b`` by JSON path, in document order; ``None`` if the values
    are too deeply nested to walk. Array paths use the new index (the old one for removed
    elements). Strings holding JSON objects or arrays are compared as parsed JSON."""
    differ = _Differ()
    try:
        differ.value("$", decode_nested(a, top=True), decode_nested(b, top=True))
    except RecursionError:
        return None
    return differ.out


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def format_change(change: JsonChange) -> str:
    """One line: ``$.a[1].b: 5 → 6``, ``+ $.c: true``, ``- $.d: "x"``."""
    if change.kind == "changed":
        return f"{change.path}: {_shown(change.old)} → {_shown(change.new)}"
    if change.kind == "added":
        return f"+ {change.path}: {_shown(change.new)}"
    return f"- {change.path}: {_shown(change.old)}"


def structural_result(changes: list[JsonChange]) -> DiffResult:
    """The change list as a diff for the diff viewer: one line per path, the old value
    struck through and the new one inserted, so inline and side-by-side both read well.

    Counts are of changes, not words: ``removed_words`` = changed + removed paths,
    ``added_words`` = changed + added paths.
    """
    ops: list[DiffOp] = []
    added = removed = 0
    if not changes:
        ops.append(DiffOp("equal", "no differences by JSON path\n", "no differences by JSON path\n"))
    for ch in changes:
        head = f"{ch.path}: "
        if ch.kind == "changed":
            ops += [
                DiffOp("equal", head, head),
                DiffOp("replace", _shown(ch.old), _shown(ch.new)),
                DiffOp("equal", "\n", "\n"),
            ]
            added += 1
            removed += 1
        elif ch.kind == "added":
            ops += [DiffOp("equal", head, head), DiffOp("insert", "", _shown(ch.new))]
            ops.append(DiffOp("equal", "\n", "\n"))
            added += 1
        else:
            ops += [DiffOp("equal", head, head), DiffOp("delete", _shown(ch.old), "")]
            ops.append(DiffOp("equal", "\n", "\n"))
            removed += 1
    merged: list[DiffOp] = []
    for op in ops:  # adjacent equal ops read as one
        if merged and op.tag == "equal" and merged[-1].tag == "equal":
            last = merged.pop()
            op = DiffOp("equal", last.a_text + op.a_text, last.b_text + op.b_text)
        merged.append(op)
    sim = 1.0 if not changes else 0.0
    return DiffResult(merged, sim, added, removed, 0, len(changes))

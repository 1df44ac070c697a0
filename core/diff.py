"""Word-level diff of two texts, exact and fast even for very long LLM responses.

The diff is what users read after every replay, so it has to rebuild both texts byte for
byte, stay close to the minimal edit, read as clean blocks rather than confetti, and never
go quadratic. Strategy (``difflib.SequenceMatcher`` remains the matcher of small regions):

1. Tokenize into words, single punctuation marks, newlines and horizontal whitespace runs.
2. Only non-whitespace tokens ("keys") take part in matching, so spaces never dominate.
3. Match non-blank lines first, which keeps code fences and unchanged lines aligned.
4. Inside the unmatched line blocks, match keys at word level; blocks of several lines are
   also tried paired line by line by similarity, and that pairing wins when it keeps as
   many words. Both levels use ``core.diff_match``: anchors that need not be unique
   (rare k-grams), an exact Myers pass where few edits remain, SequenceMatcher when small.
5. Re-attach the whitespace between matched keys, then merge tiny equal islands between
   changes into one replace so a rewrite reads as a block (bounded on mostly-equal texts).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

from core.diff_match import Matcher, Run, trace_pairs, trusted

__all__ = [
    "DiffOp",
    "DiffResult",
    "diff_json",
    "diff_texts",
    "similarity",
    "tokenize",
]

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# Every character falls in exactly one branch, so the tokens always rebuild the text.
_TOKEN_RE = re.compile(rf"\n|[^\S\n]+|[^\W{_CJK}]+|[{_CJK}]|[^\w\s]")
# The same non-whitespace tokens ("keys"); splitting on them leaves only whitespace between.
_KEY_SPLIT = re.compile(rf"([^\W{_CJK}]+|[{_CJK}]|[^\w\s])")

# Changed line blocks up to this many line pairs are paired line by line by similarity.
_PAIR_CELLS = 256
# Equal islands with at most this many keys may be folded into surrounding changes.
_ISLAND_MAX = 2
# On mostly-equal texts, folding may add at most this share to the changed word count.
_FOLD_SHARE = 0.04
_WORDY = re.compile(r"\w")


def tokenize(text: str) -> list[str]:
    """Split text into words, punctuation marks, newlines and space runs; joins back to text."""
    return _TOKEN_RE.findall(text)


class DiffOp(NamedTuple):
    """One step of a diff: ``a_text`` and ``b_text`` are exact slices of the two inputs."""

    tag: str  # "equal" | "insert" | "delete" | "replace"
    a_text: str
    b_text: str


@dataclass(frozen=True, slots=True)
class DiffResult:
    """Opcodes over both original texts plus the counts users see in summaries.

    Word counts count non-whitespace tokens (words and punctuation marks).
    """

    ops: list[DiffOp]
    similarity: float
    added_words: int
    removed_words: int
    kept_words: int
    changed_regions: int

    @property
    def changed(self) -> bool:
        """True when the two texts differ at all (whitespace included)."""
        return any(op.tag != "equal" for op in self.ops)

    @property
    def a_text(self) -> str:
        """The first input, rebuilt from the ops."""
        return "".join(op.a_text for op in self.ops)

    @property
    def b_text(self) -> str:
        """The second input, rebuilt from the ops."""
        return "".join(op.b_text for op in self.ops)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``reprise diff --json`` shape."""
        return {
            "similarity": self.similarity,
            "added_words": self.added_words,
            "removed_words": self.removed_words,
            "ops": [[op.tag, op.a_text, op.b_text] for op in self.ops],
        }


# --------------------------------------------------------------------------- matching


class _Side:
    """One text split into keys and the whitespace around them, plus its non-blank lines.

    ``parts`` alternates whitespace and keys: ``parts[2 * i + 1]`` is key ``i`` and
    ``parts[2 * i]`` the (possibly empty) whitespace before it; the last part is trailing.
    """

    __slots__ = ("parts", "keys", "line_keys", "line_start")

    def __init__(self, text: str) -> None:
        parts = self.parts = _KEY_SPLIT.split(text)
        keys = self.keys = parts[1::2]
        gaps = parts[2:-1:2]  # whitespace before keys 1..n-1
        self.line_start = [0] if keys else []  # index into keys of each line's first key
        self.line_start += [i for i, gap in enumerate(gaps, 1) if "\n" in gap]
        ends = self.line_start[1:] + [len(keys)] if keys else []
        self.line_keys = [  # one entry per non-blank line
            "\x00".join(keys[lo:hi]) for lo, hi in zip(self.line_start, ends, strict=True)
        ]
        self.line_start.append(len(keys))  # sentinel: end of the last line


def _ids(xs: list[str], ys: list[str]) -> tuple[list[int], list[int]]:
    """The same small integer for equal strings on both sides (cheap to compare and pack)."""
    table = {x: i for i, x in enumerate(dict.fromkeys(chain(xs, ys)))}
    get = table.__getitem__
    return list(map(get, xs)), list(map(get, ys))


def _matched(runs: list[Run]) -> int:
    return sum(n for _, _, n in runs)


def _match_keys(sa: _Side, sb: _Side) -> list[Run]:
    """Matched key runs: whole lines first, then words inside the unmatched line blocks."""
    la, lb = _ids(sa.line_keys, sb.line_keys)
    ka, kb = _ids(sa.keys, sb.keys)
    sta, stb = sa.line_start, sb.line_start
    by_keys = {
        (sta[li], stb[lj], sta[li + n] - sta[li]): (li, lj, n)
        for li, lj, n in Matcher(la, lb).unique_runs()
    }
    line_runs = [by_keys[run] for run in trusted(list(by_keys), 0, len(ka), 0, len(kb))]
    line_runs.append((len(la), len(lb), 0))  # sentinel
    words = Matcher(ka, kb)
    out: list[Run] = []
    pa = pb = 0  # next unmatched line on each side
    for li, lj, n in line_runs:
        if pa < li or pb < lj:
            _match_block(words, sta, stb, pa, li, pb, lj, out)
        if n:
            out.append((sta[li], stb[lj], sta[li + n] - sta[li]))
        pa, pb = li + n, lj + n
    return out


def _match_block(
    words: Matcher,
    sta: list[int],
    stb: list[int],
    la0: int,
    la1: int,
    lb0: int,
    lb1: int,
    out: list[Run],
) -> None:
    """Word-match a block of changed lines; lines paired by similarity when that is as good."""
    runs = words.match(sta[la0], sta[la1], stb[lb0], stb[lb1])
    na, nb = la1 - la0, lb1 - lb0
    if na >= 2 and nb >= 2 and na * nb <= _PAIR_CELLS:
        pairs = _pair_lines(words, sta, stb, la0, la1, lb0, lb1)
        if pairs:
            paired: list[Run] = []
            pa, pb = la0, lb0
            for i, j in [*pairs, (la1, lb1)]:
                if pa < i or pb < j:
                    paired += words.match(sta[pa], sta[i], stb[pb], stb[j])
                if i < la1:
                    paired += words.match(sta[i], sta[i + 1], stb[j], stb[j + 1])
                pa, pb = i + 1, j + 1
            if _matched(paired) >= _matched(runs):
                runs = paired
    out.extend(runs)


def _pair_lines(
    words: Matcher, sta: list[int], stb: list[int], la0: int, la1: int, lb0: int, lb1: int
) -> list[tuple[int, int]]:
    """In-order pairs of similar lines (Dice of their word sets ≥ 0.5), most similar overall."""
    ka, kb = words.a, words.b
    ca = [set(ka[sta[i] : sta[i + 1]]) for i in range(la0, la1)]
    cb = [set(kb[stb[j] : stb[j + 1]]) for j in range(lb0, lb1)]
    na, nb = len(ca), len(cb)
    best = [[0.0] * (nb + 1) for _ in range(na + 1)]
    for i in range(na):
        row, nxt, sa = best[i], best[i + 1], ca[i]
        for j in range(nb):
            sim = 2 * len(sa & cb[j]) / (len(sa) + len(cb[j]))
            take = row[j] + sim if sim >= 0.5 else -1.0
            nxt[j + 1] = max(row[j + 1], nxt[j], take)
    return trace_pairs(best, la0, lb0)


# --------------------------------------------------------------------------- ops


class _Seg:
    """A growing run of equal or changed text, with key counts for cleanup and stats."""

    __slots__ = ("equal", "a", "b", "ka", "kb")

    def __init__(self, equal: bool) -> None:
        self.equal = equal
        self.a: list[str] = []
        self.b: list[str] = []
        self.ka = 0
        self.kb = 0


def _key_count(tokens: list[str]) -> int:
    return sum(1 for t in tokens if not t.isspace())


def _build_segments(sa: _Side, sb: _Side, runs: list[Run]) -> list[_Seg]:
    """Turn matched key runs into alternating equal/changed runs covering all of both texts."""
    pta, ptb = sa.parts, sb.parts
    segs: list[_Seg] = []

    def add(equal: bool, a: str, b: str, ka: int, kb: int) -> None:
        if not a and not b:
            return
        seg = segs[-1] if segs and segs[-1].equal == equal else None
        if seg is None:
            seg = _Seg(equal)
            segs.append(seg)
        seg.a.append(a)
        seg.b.append(b)
        seg.ka += ka
        seg.kb += kb

    def gap(a: str, b: str, ka: int, kb: int) -> None:
        """Unmatched text between matched keys: its common token prefix/suffix stay equal."""
        if a == b:
            add(True, a, b, ka, kb)
            return
        ga, gb = tokenize(a), tokenize(b)
        p = 0
        while p < len(ga) and p < len(gb) and ga[p] == gb[p]:
            p += 1
        s = 0
        while s < len(ga) - p and s < len(gb) - p and ga[-1 - s] == gb[-1 - s]:
            s += 1
        head, tail = ga[:p], ga[len(ga) - s :]
        kh, kt = _key_count(head), _key_count(tail)
        add(True, "".join(head), "".join(head), kh, kh)
        mid_a, mid_b = "".join(ga[p : len(ga) - s]), "".join(gb[p : len(gb) - s])
        add(False, mid_a, mid_b, ka - kh - kt, kb - kh - kt)
        add(True, "".join(tail), "".join(tail), kt, kt)

    pa = pb = 0  # next part on each side (always the whitespace before a key)
    for i, j, n in runs:
        ia, jb = 2 * i + 1, 2 * j + 1  # parts index of the first key of the run
        if pa < ia or pb < jb:
            gap("".join(pta[pa:ia]), "".join(ptb[pb:jb]), i - pa // 2, j - pb // 2)
        ea, eb = ia + 2 * n - 1, jb + 2 * n - 1
        if pta[ia:ea] == ptb[jb:eb]:  # the usual case: whitespace inside the run is equal too
            text = "".join(pta[ia:ea])
            add(True, text, text, n, n)
        else:
            for k in range(n):
                if k:
                    gap(pta[ia + 2 * k - 1], ptb[jb + 2 * k - 1], 0, 0)
                add(True, pta[ia + 2 * k], ptb[jb + 2 * k], 1, 1)
        pa, pb = ea, eb
    if pa < len(pta) or pb < len(ptb):
        gap("".join(pta[pa:]), "".join(ptb[pb:]), len(sa.keys) - pa // 2, len(sb.keys) - pb // 2)
    return segs


def _cleanup(segs: list[_Seg]) -> list[_Seg]:
    """Fold small equal islands between changes into one change so rewrites read as blocks.

    An island is folded when it holds at most ``_ISLAND_MAX`` keys, each neighbouring change
    is at least as large and together they are eight times its size (punctuation-only
    islands need just the first); whitespace-only islands fold unless they end a paragraph.
    Folding counts the island as changed, so on mostly-equal texts it may add at most
    ``_FOLD_SHARE`` to the changed words: there minimality matters more than blocks.
    """
    changed = sum(s.ka + s.kb for s in segs if not s.equal)
    kept = sum(s.ka for s in segs if s.equal)
    budget = changed * _FOLD_SHARE if kept >= 3 * changed // 4 else float("inf")
    out: list[_Seg] = []
    for seg in segs:
        while (
            not seg.equal
            and len(out) >= 2
            and out[-1].equal
            and not out[-2].equal
            and 2 * out[-1].ka <= budget
            and _foldable(out[-1], out[-2], seg)
        ):
            island = out.pop()
            merged = out.pop()
            budget -= 2 * island.ka
            merged.a += island.a
            merged.a += seg.a
            merged.b += island.b
            merged.b += seg.b
            merged.ka += island.ka + seg.ka
            merged.kb += island.kb + seg.kb
            seg = merged
        out.append(seg)
    return out


def _foldable(island: _Seg, before: _Seg, after: _Seg) -> bool:
    k = island.ka
    if k == 0:
        return "\n\n" not in "".join(island.a)
    if k > _ISLAND_MAX:
        return False
    x, y = max(before.ka, before.kb), max(after.ka, after.kb)
    if _WORDY.search("".join(island.a)) is None:  # only punctuation: ", " or " = "
        return k <= min(x, y)
    return k <= min(x, y) and 8 * k <= x + y


def _result(segs: list[_Seg], a: str, b: str) -> DiffResult:
    ops: list[DiffOp] = []
    kept = added = removed = regions = 0
    for seg in segs:
        at, bt = "".join(seg.a), "".join(seg.b)
        if seg.equal:
            ops.append(DiffOp("equal", at, bt))
            kept += seg.ka
            continue
        regions += 1
        removed += seg.ka
        added += seg.kb
        tag = "replace" if at and bt else ("delete" if at else "insert")
        ops.append(DiffOp(tag, at, bt))
    total = 2 * kept + added + removed
    if a == b:
        sim = 1.0
    elif total:
        sim = 2 * kept / total
    else:  # whitespace-only texts: fall back to characters
        kept_chars = sum(len(op.a_text) for op in ops if op.tag == "equal")
        sim = 2 * kept_chars / (len(a) + len(b))
    return DiffResult(
        ops=ops,
        similarity=round(sim, 6),
        added_words=added,
        removed_words=removed,
        kept_words=kept,
        changed_regions=regions,
    )


def diff_texts(a: str, b: str) -> DiffResult:
    """Word-level diff of two texts; the ops rebuild both inputs exactly."""
    if a == b:
        keys = _key_count(tokenize(a))
        ops = [DiffOp("equal", a, b)] if a else []
        return DiffResult(ops, 1.0, 0, 0, keys, 0)
    sa, sb = _Side(a), _Side(b)
    pairs = _match_keys(sa, sb)
    segs = _cleanup(_build_segments(sa, sb, pairs))
    return _result(segs, a, b)


def similarity(a: str, b: str) -> float:
    """Share of words kept between two texts, 0..1 (1.0 for identical texts)."""
    return diff_texts(a, b).similarity


# --------------------------------------------------------------------------- JSON


def decode_nested(value: object, top: bool = False) -> object:
    """Parse JSON held in strings (tool-call ``arguments``) so it diffs structurally."""
    if isinstance(value, str):
        stripped = value.strip()
        if top or stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(value)
            except ValueError:
                return value
            if top or isinstance(parsed, dict | list):
                return decode_nested(parsed)
        return value
    if isinstance(value, dict):
        return {str(k): decode_nested(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [decode_nested(v) for v in value]
    if hasattr(value, "model_dump"):
        return decode_nested(value.model_dump(mode="json"))
    return value


def to_pretty_json(value: object) -> str:
    """Canonical pretty JSON (sorted keys, indent 2) used for structural diffs."""
    return json.dumps(
        decode_nested(value, top=True),
        sort_keys=True,
        indent=2,
        ensure_ascii=False,
        default=str,
    )


def diff_json(a: object, b: object) -> DiffResult:
    """Diff two JSON-like values (tool calls, arguments) as pretty-printed sorted JSON."""
    return diff_texts(to_pretty_json(a), to_pretty_json(b))

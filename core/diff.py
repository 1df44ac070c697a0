"""Word-level diff of two texts, exact and fast even for very long LLM responses.

The diff is what users read after every replay, so it has to rebuild both texts byte for
byte, stay close to the minimal edit, read as clean blocks rather than confetti, and never
go quadratic. Strategy (``difflib.SequenceMatcher`` remains the matcher):

1. Tokenize into words, single punctuation marks, newlines and horizontal whitespace runs.
2. Only non-whitespace tokens ("keys") take part in matching, so spaces never dominate.
3. Match non-blank lines first (patience-style unique anchors, then SequenceMatcher on
   small regions), which keeps code fences and unchanged lines aligned.
4. Inside the unmatched line blocks, match keys the same way at word level: trim common
   prefix/suffix, split on tokens unique to both sides (longest increasing chain), and only
   hand small regions to SequenceMatcher.
5. Re-attach the whitespace between matched keys, then merge tiny equal islands between
   changes into one replace so a rewrite reads as a block.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, NamedTuple

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

# Regions whose size product is below this go straight to SequenceMatcher.
_SMALL = 4_096
# Without anchors, regions up to this product still get SequenceMatcher; larger ones are
# reported as a rewrite (no common anchor at all means there is little worth aligning).
_MEDIUM = 160_000
# Equal islands with at most this many keys may be folded into surrounding changes.
_ISLAND_MAX = 2
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


def _lis(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest chain of pairs increasing in both coordinates (pairs sorted by first)."""
    tails: list[int] = []  # smallest second coordinate ending a chain of each length
    tail_idx: list[int] = []
    prev: list[int] = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_idx.append(k)
        else:
            tails[pos] = j
            tail_idx[pos] = k
        prev[k] = tail_idx[pos - 1] if pos else -1
    chain: list[tuple[int, int]] = []
    k = tail_idx[-1] if tail_idx else -1
    while k >= 0:
        chain.append(pairs[k])
        k = prev[k]
    chain.reverse()
    return chain


def _anchors(
    a: Sequence[Hashable], b: Sequence[Hashable], alo: int, ahi: int, blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Pairs of positions of elements occurring equally rarely on both sides, in order."""
    ca = Counter(a[alo:ahi])
    cb = Counter(b[blo:bhi])
    for limit in (1, 3):
        rare = {x for x, n in ca.items() if n <= limit and cb.get(x) == n}
        if not rare:
            continue
        seen: dict[Hashable, list[int]] = {}
        for j in range(blo, bhi):
            if b[j] in rare:
                seen.setdefault(b[j], []).append(j)
        pairs: list[tuple[int, int]] = []
        used: Counter[Hashable] = Counter()
        for i in range(alo, ahi):
            x = a[i]
            if x in rare:
                pairs.append((i, seen[x][used[x]]))
                used[x] += 1
        chain = _lis(pairs)
        if chain:
            return chain
    return []


def _sequence_matcher(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    alo: int,
    ahi: int,
    blo: int,
    bhi: int,
    out: list[tuple[int, int]],
) -> None:
    sm = SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
    for i, j, n in sm.get_matching_blocks():
        for k in range(n):
            out.append((alo + i + k, blo + j + k))


def _match(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    alo: int,
    ahi: int,
    blo: int,
    bhi: int,
    out: list[tuple[int, int]],
) -> None:
    """Append matched index pairs of a[alo:ahi] and b[blo:bhi] to ``out`` in order."""
    while alo < ahi and blo < bhi and a[alo] == b[blo]:
        out.append((alo, blo))
        alo += 1
        blo += 1
    tail: list[tuple[int, int]] = []
    while ahi > alo and bhi > blo and a[ahi - 1] == b[bhi - 1]:
        ahi -= 1
        bhi -= 1
        tail.append((ahi, bhi))
    if alo < ahi and blo < bhi:
        size = (ahi - alo) * (bhi - blo)
        if size <= _SMALL:
            _sequence_matcher(a, b, alo, ahi, blo, bhi, out)
        else:
            chain = _anchors(a, b, alo, ahi, blo, bhi)
            if chain:
                pa, pb = alo, blo
                for i, j in chain:
                    _match(a, b, pa, i, pb, j, out)
                    out.append((i, j))
                    pa, pb = i + 1, j + 1
                _match(a, b, pa, ahi, pb, bhi, out)
            elif size <= _MEDIUM:
                _sequence_matcher(a, b, alo, ahi, blo, bhi, out)
    out.extend(reversed(tail))


class _Side:
    """Tokens of one text with the positions of its keys and its non-blank lines."""

    __slots__ = ("tokens", "key_pos", "keys", "line_keys", "line_start")

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.key_pos: list[int] = []
        self.keys: list[str] = []
        self.line_keys: list[str] = []  # one entry per non-blank line
        self.line_start: list[int] = []  # index into keys of each line's first key
        line_first = 0
        for i, tok in enumerate(self.tokens):
            if tok == "\n":
                if len(self.keys) > line_first:
                    self.line_start.append(line_first)
                    self.line_keys.append("\x00".join(self.keys[line_first:]))
                line_first = len(self.keys)
            elif not tok.isspace():
                self.key_pos.append(i)
                self.keys.append(tok)
        if len(self.keys) > line_first:
            self.line_start.append(line_first)
            self.line_keys.append("\x00".join(self.keys[line_first:]))
        self.line_start.append(len(self.keys))  # sentinel: end of the last line


def _match_keys(sa: _Side, sb: _Side) -> list[tuple[int, int]]:
    """Matched key index pairs: lines first, then words inside unmatched line blocks."""
    line_pairs: list[tuple[int, int]] = []
    la, lb = sa.line_keys, sb.line_keys
    _match(la, lb, 0, len(la), 0, len(lb), line_pairs)
    line_pairs.append((len(la), len(lb)))  # sentinel
    out: list[tuple[int, int]] = []
    ka, kb = sa.keys, sb.keys
    sta, stb = sa.line_start, sb.line_start
    pa = pb = 0  # next unmatched line on each side
    for li, lj in line_pairs:
        # unmatched lines pa..li / pb..lj: diff their keys at word level
        _match(ka, kb, sta[pa], sta[li], stb[pb], stb[lj], out)
        if li < len(la):
            i0, j0 = sta[li], stb[lj]
            out.extend((i0 + k, j0 + k) for k in range(sta[li + 1] - i0))
        pa, pb = li + 1, lj + 1
    return out


# --------------------------------------------------------------------------- ops


class _Seg:
    """A growing run of equal or changed tokens, with key counts for cleanup and stats."""

    __slots__ = ("equal", "a", "b", "ka", "kb")

    def __init__(self, equal: bool) -> None:
        self.equal = equal
        self.a: list[str] = []
        self.b: list[str] = []
        self.ka = 0
        self.kb = 0


def _is_key(tok: str) -> bool:
    return not tok.isspace()


def _build_segments(sa: _Side, sb: _Side, pairs: list[tuple[int, int]]) -> list[_Seg]:
    """Turn matched keys into alternating equal/changed runs covering every token."""
    ta, tb = sa.tokens, sb.tokens
    segs: list[_Seg] = []

    def add(equal: bool, a_toks: list[str], b_toks: list[str]) -> None:
        if not a_toks and not b_toks:
            return
        seg = segs[-1] if segs and segs[-1].equal == equal else None
        if seg is None:
            seg = _Seg(equal)
            segs.append(seg)
        seg.a.extend(a_toks)
        seg.b.extend(b_toks)
        seg.ka += sum(1 for t in a_toks if _is_key(t))
        seg.kb += sum(1 for t in b_toks if _is_key(t))

    def gap(ga: list[str], gb: list[str]) -> None:
        if ga == gb:
            add(True, ga, gb)
            return
        p = 0
        while p < len(ga) and p < len(gb) and ga[p] == gb[p]:
            p += 1
        s = 0
        while s < len(ga) - p and s < len(gb) - p and ga[-1 - s] == gb[-1 - s]:
            s += 1
        add(True, ga[:p], gb[:p])
        add(False, ga[p : len(ga) - s], gb[p : len(gb) - s])
        add(True, ga[len(ga) - s :], gb[len(gb) - s :])

    kpa, kpb = sa.key_pos, sb.key_pos
    pa = pb = 0
    for i, j in pairs:
        ti, tj = kpa[i], kpb[j]
        if ti != pa or tj != pb:
            gap(ta[pa:ti], tb[pb:tj])
        seg = segs[-1] if segs and segs[-1].equal else None
        if seg is None:
            seg = _Seg(True)
            segs.append(seg)
        seg.a.append(ta[ti])
        seg.b.append(tb[tj])
        seg.ka += 1
        seg.kb += 1
        pa, pb = ti + 1, tj + 1
    if pa < len(ta) or pb < len(tb):
        gap(ta[pa:], tb[pb:])
    return segs


def _cleanup(segs: list[_Seg]) -> list[_Seg]:
    """Fold small equal islands between changes into one change so rewrites read as blocks.

    An island is folded when it holds at most ``_ISLAND_MAX`` keys, each neighbouring change
    is at least as large and together they are eight times its size (punctuation-only
    islands need just the first); whitespace-only islands fold unless they end a paragraph.
    """
    out: list[_Seg] = []
    for seg in segs:
        while (
            not seg.equal
            and len(out) >= 2
            and out[-1].equal
            and not out[-2].equal
            and _foldable(out[-1], out[-2], seg)
        ):
            island = out.pop()
            prev = out.pop()
            merged = _Seg(False)
            merged.a = prev.a + island.a + seg.a
            merged.b = prev.b + island.b + seg.b
            merged.ka = prev.ka + island.ka + seg.ka
            merged.kb = prev.kb + island.kb + seg.kb
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
        keys = sum(1 for t in tokenize(a) if _is_key(t))
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


def _decode_nested(value: object, top: bool = False) -> object:
    """Parse JSON held in strings (tool-call ``arguments``) so it diffs structurally."""
    if isinstance(value, str):
        stripped = value.strip()
        if top or stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(value)
            except ValueError:
                return value
            if top or isinstance(parsed, dict | list):
                return _decode_nested(parsed)
        return value
    if isinstance(value, dict):
        return {str(k): _decode_nested(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decode_nested(v) for v in value]
    if hasattr(value, "model_dump"):
        return _decode_nested(value.model_dump(mode="json"))
    return value


def to_pretty_json(value: object) -> str:
    """Canonical pretty JSON (sorted keys, indent 2) used for structural diffs."""
    return json.dumps(
        _decode_nested(value, top=True),
        sort_keys=True,
        indent=2,
        ensure_ascii=False,
        default=str,
    )


def diff_json(a: object, b: object) -> DiffResult:
    """Diff two JSON-like values (tool calls, arguments) as pretty-printed sorted JSON."""
    return diff_texts(to_pretty_json(a), to_pretty_json(b))

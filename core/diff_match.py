"""Near-minimal matching of two sequences of token ids, without quadratic cost.

Repetitive text (JSON keys, table pipes, log levels, repeated lines) has few or no tokens
that are unique on both sides, so plain patience anchoring leaves huge regions unaligned.
Here a region is cut down until it is small or provably cheap:

1. Trim the common prefix and suffix (compared a slice at a time, galloping).
2. Anchor without requiring unique tokens: try k-grams of 1, 8 and 32 tokens (hashed, and
   checked token by token before use), first those unique on both sides, then those
   occurring equally rarely (≤ 4 times) on both sides, paired in order; chain them by a
   longest increasing subsequence, grow each anchor into its full equal run and recurse
   on the gaps. A run that sits off its neighbours' diagonal by more than it saves (a
   word that moved) is dropped.
3. Small regions (under 4,096 cells) get an exact O(ND) Myers pass, or
   ``difflib.SequenceMatcher`` when they are mostly changed; larger anchorless regions
   get Myers when their edit distance is small. Myers work is capped per region, per diff
   and after failures, so dense rewrites and adversarial input stay fast.
4. What is still left — large, anchorless and far apart — is a rewrite: SequenceMatcher if
   it is moderately sized, otherwise kept position by position when most positions are
   equal (one token repeated with scattered substitutions), else one replace.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher
from itertools import compress, groupby
from math import isqrt
from operator import eq

__all__ = ["Matcher", "Run", "match_runs", "trace_pairs", "trusted"]

Run = tuple[int, int, int]  # (index in a, index in b, length): a[i:i+n] == b[j:j+n]

# Regions whose size product is below this are small: exact Myers, else SequenceMatcher.
_SMALL = 4_096
# Anchorless regions up to this product still get SequenceMatcher; larger ones are a rewrite.
_MEDIUM = 160_000
# k-gram sizes tried for anchors, and how many equal occurrences still make an anchor.
_GRAMS = (1, 8, 32)
_RARE = 4
# Edit distance one Myers pass looks for: at most _DMAX, starting at _DSTART, doubled after
# a success and halved (down to _DMIN) after a failure; and the Myers steps allowed per diff.
_DMAX = 400
_DMIN = 16
_DSTART = 128
_MYERS_BUDGET = 400_000


def _run_length(a: Sequence[int], i: int, b: Sequence[int], j: int, limit: int) -> int:
    """Length of the common run a[i:], b[j:] (at most ``limit``)."""
    return _gallop(lambda n, s: a[i + n : i + n + s] == b[j + n : j + n + s], limit)


def _back_run_length(a: Sequence[int], i: int, b: Sequence[int], j: int, limit: int) -> int:
    """Length of the common run ending just before a[i], b[j] (at most ``limit``)."""
    return _gallop(lambda n, s: a[i - n - s : i - n] == b[j - n - s : j - n], limit)


def _gallop(same: Callable[[int, int], bool], limit: int) -> int:
    """Largest n ≤ ``limit`` whose first n elements ``same(offset, size)`` reports equal:
    a few elements one by one (most runs are short), then galloping over slices."""
    n = 0
    top = min(limit, 8)
    while n < top and same(n, 1):
        n += 1
    if n < top:
        return n
    step = 16
    while n < limit:
        s = min(step, limit - n)
        if same(n, s):
            n += s
            step *= 2
        elif s == 1:
            break
        else:
            step = s // 2
    return n


def trace_pairs(best: list[list[float]], alo: int, blo: int) -> list[tuple[int, int]]:
    """The in-order pairs behind a filled pairing table, where ``best[i][j]`` is the best
    total for the first i elements of one side and j of the other (a pair raises it)."""
    pairs: list[tuple[int, int]] = []
    i, j = len(best) - 1, len(best[0]) - 1
    while i and j:
        if best[i][j] == best[i - 1][j]:
            i -= 1
        elif best[i][j] == best[i][j - 1]:
            j -= 1
        else:
            pairs.append((alo + i - 1, blo + j - 1))
            i -= 1
            j -= 1
    pairs.reverse()
    return pairs


def trusted(runs: list[Run], alo: int, ahi: int, blo: int, bhi: int) -> list[Run]:
    """Drop runs that a longest increasing chain kept but that sit off their neighbours'
    diagonal: matching them would force more edits than they save (a word that moved).
    One pass; a run dropped late can expose its predecessor, which is checked again."""

    def off(before: int, d: int, after: int, n: int) -> bool:
        # leaving the neighbours' diagonal range and coming back costs twice the distance;
        # keeping the run saves 2n changed tokens
        return max(0, d - max(before, after), min(before, after) - d) > n

    kept: list[Run] = []
    start, end = alo - blo, ahi - bhi
    for t, (i, j, n) in enumerate(runs):
        d = i - j
        while kept:
            pi, pj, pn = kept[-1]
            before = kept[-2][0] - kept[-2][1] if len(kept) > 1 else start
            if not off(before, pi - pj, d, pn):
                break
            kept.pop()
        before = kept[-1][0] - kept[-1][1] if kept else start
        after = runs[t + 1][0] - runs[t + 1][1] if t + 1 < len(runs) else end
        if not off(before, d, after, n):
            kept.append((i, j, n))
    while kept:
        pi, pj, pn = kept[-1]
        before = kept[-2][0] - kept[-2][1] if len(kept) > 1 else start
        if not off(before, pi - pj, end, pn):
            break
        kept.pop()
    return kept


def _ones(counts: Counter[int]) -> set[int]:
    return set(compress(counts.keys(), map((1).__eq__, counts.values())))


def _unique_pairs(
    sa: Sequence[int],
    sb: Sequence[int],
    alo: int,
    blo: int,
    ca: Counter[int],
    cb: Counter[int],
    stride: int,
) -> list[tuple[int, int]]:
    """Positions of the elements occurring once on each side, paired (all in C). Only every
    ``stride``-th position of ``a`` is looked at: overlapping k-grams are redundant."""
    rare = _ones(ca) & _ones(cb)
    if not rare:
        return []
    where_b = dict(zip(sb, range(blo, blo + len(sb)), strict=True))
    xs = sa[::stride]
    mask = list(map(rare.__contains__, xs))
    pos_a = compress(range(alo, alo + len(sa), stride), mask)
    pos_b = map(where_b.__getitem__, compress(xs, mask))
    return list(zip(pos_a, pos_b, strict=False))


def _rare_pairs(
    sa: Sequence[int], sb: Sequence[int], alo: int, blo: int, ca: Counter[int], cb: Counter[int]
) -> list[tuple[int, int]]:
    """Elements occurring equally rarely on both sides (≤ ``_RARE`` times), the t-th
    occurrence in ``a`` paired with the t-th in ``b``."""
    rare = {x for x, c in ca.items() if c <= _RARE and cb.get(x) == c}
    if not rare:
        return []
    seen: dict[int, list[int]] = {}
    for j, x in enumerate(sb):
        if x in rare:
            seen.setdefault(x, []).append(blo + j)
    used: Counter[int] = Counter()
    pairs: list[tuple[int, int]] = []
    for i, x in enumerate(sa):
        if x in rare:
            pairs.append((alo + i, seen[x][used[x]]))
            used[x] += 1
    return pairs


def _lis(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest chain of pairs increasing in both coordinates (pairs sorted by first)."""
    tails: list[int] = []
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


class Matcher:
    """One matching job: both sequences, their k-gram keys (built lazily) and the budget."""

    def __init__(self, a: Sequence[int], b: Sequence[int]) -> None:
        self.a = a
        self.b = b
        self.budget = _MYERS_BUDGET
        self.dmax = _DSTART
        self._grams: dict[int, tuple[list[int], list[int]]] = {}

    # -- k-grams -----------------------------------------------------------------------
    def grams(self, k: int) -> tuple[Sequence[int], Sequence[int]]:
        """A hash of the k-gram starting at each position (built in C). Equal hashes are
        only candidates: anchors are checked token by token before they are used."""
        if k == 1:
            return self.a, self.b
        got = self._grams.get(k)
        if got is None:
            got = (self._pack(self.a, k), self._pack(self.b, k))
            self._grams[k] = got
        return got

    def _pack(self, seq: Sequence[int], k: int) -> list[int]:
        if k <= 8:
            return list(map(hash, zip(*(seq[t:] for t in range(k)), strict=False)))
        q = k // 4
        base = self.grams(q)[0 if seq is self.a else 1]
        return list(map(hash, zip(base, base[q:], base[2 * q :], base[3 * q :], strict=False)))

    # -- driver ------------------------------------------------------------------------
    def match(self, alo: int, ahi: int, blo: int, bhi: int) -> list[Run]:
        """Matched runs of a[alo:ahi] and b[blo:bhi] in order (a stack of regions and runs)."""
        out: list[Run] = []
        stack: list[tuple[int, int, int, int, bool]] = [(alo, ahi, blo, bhi, False)]
        while stack:
            alo, ahi, blo, bhi, is_run = stack.pop()
            if is_run:
                if ahi:
                    out.append((alo, blo, ahi))
                continue
            self._region(alo, ahi, blo, bhi, out, stack)
        return out

    def _region(
        self,
        alo: int,
        ahi: int,
        blo: int,
        bhi: int,
        out: list[Run],
        stack: list[tuple[int, int, int, int, bool]],
    ) -> None:
        a, b = self.a, self.b
        if alo < ahi and blo < bhi and a[alo] == b[blo]:
            n = _run_length(a, alo, b, blo, min(ahi - alo, bhi - blo))
            out.append((alo, blo, n))
            alo += n
            blo += n
        tail = 0
        if alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            tail = _back_run_length(a, ahi, b, bhi, min(ahi - alo, bhi - blo))
            ahi -= tail
            bhi -= tail
        todo: list[tuple[int, int, int, int, bool]] = []
        if alo < ahi and blo < bhi:
            size = (ahi - alo) * (bhi - blo)
            if size <= _SMALL:
                # few edits: exact; many (a rewrite): SequenceMatcher's blocks read better
                runs = self._myers(alo, ahi, blo, bhi, ahi - alo + bhi - blo)
                if runs is None:
                    self._sequence_matcher(alo, ahi, blo, bhi, out)
                else:
                    out.extend(runs)
            else:
                runs = self._anchor_runs(alo, ahi, blo, bhi)
                if runs is None:
                    runs = self._myers(alo, ahi, blo, bhi)
                if runs is not None:
                    pa, pb = alo, blo
                    for i, j, n in runs:
                        if pa < i or pb < j:
                            todo.append((pa, i, pb, j, False))
                        todo.append((i, n, j, 0, True))
                        pa, pb = i + n, j + n
                    if pa < ahi or pb < bhi:
                        todo.append((pa, ahi, pb, bhi, False))
                elif size <= _MEDIUM:
                    self._sequence_matcher(alo, ahi, blo, bhi, out)
                else:
                    out.extend(self._diagonal(alo, ahi, blo, bhi))
        if tail:
            todo.append((ahi, tail, bhi, 0, True))
        if todo:
            # Regions/runs are finished in order: the stack is LIFO, so push them reversed.
            # Pending output must come first, so flush ``todo`` through the stack.
            stack.extend(reversed(todo))

    def _sequence_matcher(self, alo: int, ahi: int, blo: int, bhi: int, out: list[Run]) -> None:
        sm = SequenceMatcher(None, self.a[alo:ahi], self.b[blo:bhi], autojunk=False)
        out.extend((alo + i, blo + j, n) for i, j, n in sm.get_matching_blocks() if n)

    def unique_runs(self) -> list[Run]:
        """Only the safest matches: common prefix/suffix and runs around elements unique to
        both sides (patience anchors, no recursion). Used for whole lines, where a repeated
        line (a code fence) matched by count alone could pull everything out of place."""
        a, b = self.a, self.b
        ahi, bhi = len(a), len(b)
        head = _run_length(a, 0, b, 0, min(ahi, bhi))
        tail = _back_run_length(a, ahi, b, bhi, min(ahi, bhi) - head)
        alo, blo = head, head
        ahi, bhi = ahi - tail, bhi - tail
        runs: list[Run] = [(0, 0, head)] if head else []
        if alo < ahi and blo < bhi:
            sa, sb = a[alo:ahi], b[blo:bhi]
            pairs = _unique_pairs(sa, sb, alo, blo, Counter(sa), Counter(sb), 1)
            runs += self._extend(_lis(pairs), 1, alo, ahi, blo, bhi)
        if tail:
            runs.append((ahi, bhi, tail))
        return runs

    def _diagonal(self, alo: int, ahi: int, blo: int, bhi: int) -> list[Run]:
        """Last resort for a large region with nothing to anchor on and many edits (e.g. one
        token repeated with scattered substitutions): keep the tokens equal position by
        position when that is most of them, otherwise it is a rewrite."""
        size = min(ahi - alo, bhi - blo)
        same = list(map(eq, self.a[alo : alo + size], self.b[blo : blo + size]))
        if 2 * sum(same) < size:
            return []
        runs: list[Run] = []
        pos = 0
        for equal, group in groupby(same):
            n = sum(1 for _ in group)
            if equal:
                runs.append((alo + pos, blo + pos, n))
            pos += n
        return runs

    # -- anchors -----------------------------------------------------------------------
    def _anchor_runs(self, alo: int, ahi: int, blo: int, bhi: int) -> list[Run] | None:
        n, m = ahi - alo, bhi - blo
        for k in _GRAMS:
            if k > min(n, m):
                break
            ga, gb = self.grams(k)
            # a k-gram must lie wholly inside the region
            sa = ga[alo : ahi - k + 1]
            sb = gb[blo : bhi - k + 1]
            ca, cb = Counter(sa), Counter(sb)
            pairs = _unique_pairs(sa, sb, alo, blo, ca, cb, k)
            if not pairs:
                pairs = _rare_pairs(sa, sb, alo, blo, ca, cb)
            if pairs:
                chain = _lis(pairs)
                runs = trusted(self._extend(chain, k, alo, ahi, blo, bhi), alo, ahi, blo, bhi)
                if runs:
                    return runs
        return None

    def _extend(
        self, chain: list[tuple[int, int]], k: int, alo: int, ahi: int, blo: int, bhi: int
    ) -> list[Run]:
        """Merge anchors on one diagonal, drop overlapping ones, grow each to its equal run."""
        a, b = self.a, self.b
        runs: list[list[int]] = []
        for i, j in chain:
            if k > 1 and a[i : i + k] != b[j : j + k]:  # k-grams are matched by hash
                continue
            if runs:
                ri, rj, rn = runs[-1]
                if i - j == ri - rj and i <= ri + rn:
                    runs[-1][2] = max(rn, i + k - ri)
                    continue
                if i < ri + rn or j < rj + rn:
                    continue
            runs.append([i, j, k])
        pa, pb = alo, blo
        for t, run in enumerate(runs):
            i, j, n = run
            back = _back_run_length(a, i, b, j, min(i - pa, j - pb))
            i, j, n = i - back, j - back, n + back
            if t + 1 < len(runs):
                na, nb = runs[t + 1][0], runs[t + 1][1]
            else:
                na, nb = ahi, bhi
            n += _run_length(a, i + n, b, j + n, min(na - i - n, nb - j - n))
            run[:] = (i, j, n)
            pa, pb = i + n, j + n
        return [(i, j, n) for i, j, n in runs]

    # -- Myers -------------------------------------------------------------------------
    def _myers(
        self, alo: int, ahi: int, blo: int, bhi: int, limit: int = _DMAX
    ) -> list[Run] | None:
        """Exact shortest edit script when it is short: O((N+M)·D), capped per diff."""
        n, m = ahi - alo, bhi - blo
        # cost grows as D², so D is capped relative to the region and by past failures
        dmax = min(limit, n + m, self.dmax, isqrt(32 * (n + m)))
        if abs(n - m) > dmax or self.budget <= 0:
            return None
        a, b = self.a[alo:ahi], self.b[blo:bhi]
        off = dmax + 1
        v = [0] * (2 * dmax + 3)
        trace: list[list[int]] = []
        steps = 0
        for d in range(dmax + 1):
            trace.append(v[off - d - 1 : off + d + 2])
            for k in range(-d, d + 1, 2):
                if k == -d or (k != d and v[off + k - 1] < v[off + k + 1]):
                    x = v[off + k + 1]
                else:
                    x = v[off + k - 1] + 1
                y = x - k
                # follow the diagonal: a few steps one by one, a long run by slices
                stop = x + 8
                while x < n and y < m and a[x] == b[y]:
                    x += 1
                    y += 1
                    if x == stop:
                        x += _run_length(a, x, b, y, min(n - x, m - y))
                        break
                v[off + k] = x
                if x >= n and k == n - m:
                    self.budget -= steps
                    self.dmax = min(_DMAX, 2 * self.dmax)
                    return self._backtrack(trace, d, n, m, alo, blo)
            steps += d + 1
            if steps > self.budget:
                self.budget = 0
                return None
        self.budget -= steps
        # dense changes (a rewrite) make every attempt fail: stop paying for them
        self.dmax = max(_DMIN, self.dmax // 2)
        return None

    @staticmethod
    def _backtrack(trace: list[list[int]], dend: int, n: int, m: int, alo: int, blo: int) -> list[Run]:
        runs: list[Run] = []
        x, y = n, m
        for d in range(dend, 0, -1):
            row = trace[d]  # v[-d-1 .. d+1] before round d
            k = x - y
            base = d + 1  # index of diagonal 0 in ``row``
            if k == -d or (k != d and row[base + k - 1] < row[base + k + 1]):
                pk = k + 1
                px = row[base + pk]
                sx = px  # moved down: insertion, x unchanged
            else:
                pk = k - 1
                px = row[base + pk]
                sx = px + 1
            snake = x - sx
            if snake > 0:
                runs.append((alo + sx, blo + sx - k, snake))
            x, y = px, px - pk
        if x > 0:
            runs.append((alo, blo, x))
        runs.reverse()
        return runs


def match_runs(a: Sequence[int], b: Sequence[int]) -> list[Run]:
    """Runs (i, j, n) with a[i:i+n] == b[j:j+n], increasing in both, near-minimal in edits."""
    return Matcher(a, b).match(0, len(a), 0, len(b))

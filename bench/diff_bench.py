"""Benchmark of reprise's word diff on generated LLM-style responses.

Part 1, LLM-style markdown: for texts of 100 to 50,000 words at 5 %, 40 % and full
rewrite it prints the median compute time of ``diff_texts``, the time to lay out and draw
one 120x40 screen of the inline view, the changed-token count against the minimal one
(exact LCS on the same non-whitespace tokens), the naive ``SequenceMatcher(autojunk=False)``
baseline where it is affordable, and ``git diff --no-index --word-diff=porcelain`` as a
whole process.

Part 2, repetitive and structured text (the families of ``tests/diff_families.py``: JSON
compact and indented, Markdown tables, log lines, code with repeated lines, numbered
lists, small-vocabulary prose with repeated fenced blocks, prose) at 1k / 10k / 50k
tokens with 10 % of the tokens edited, the two measured cases (800 JSON records with 4 %
of the values changed; 10,000 small-vocabulary words with identical fenced blocks, 5 %
changed) and adversarial input (all-identical tokens, two alternating tokens, one token
changed in 50k). Targets: ≤ 10 / 50 / 300 ms, changed ≤ 1.10x minimal, nothing > 1 s.

Run: ``python bench/diff_bench.py [--quick] [--part 1|2]``
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.diff import diff_texts, tokenize  # noqa: E402


def _words(text: str) -> list[str]:
    return text.split()


COMMON = _words(
    "the of and to a in is that it for as with on be this are by you can or an "
    "not from at which we will if more have your use when all each but one these"
)
VOCAB = _words(
    "model response prompt token context output input function value request server "
    "cache latency request system user message replay session branch tree diff word "
    "line file code error result test example data string number list field config "
    "option default parameter temperature sample score metric agent tool call argument "
    "return type class method module import package version build release document "
    "section table column row index query filter sort order group merge update delete "
    "insert create read write open close start stop run check verify measure compare "
    "improve reduce increase handle support provide require allow enable ensure avoid "
    "quickly simply carefully usually often always never correctly exactly roughly "
    "important useful simple complex large small fast slow new old first last next "
    "previous different similar specific general common rare stable recent"
)
IDENTS = ["get_value", "parse_args", "self", "None", "True", "return", "def", "for", "in"]


def _word(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.45:
        return rng.choice(COMMON)
    if r < 0.97:
        return rng.choice(VOCAB)
    return f"{rng.choice(VOCAB)}{rng.randint(2, 999)}"


def _sentence(rng: random.Random) -> list[str]:
    words = [_word(rng) for _ in range(rng.randint(6, 22))]
    words[0] = words[0].capitalize()
    if rng.random() < 0.2:
        k = rng.randrange(len(words))
        words[k] = f"`{words[k]}`"
    if rng.random() < 0.25:
        k = rng.randrange(len(words))
        words[k] += ","
    words[-1] += rng.choice([".", ".", ".", "?", ":"])
    return words


def generate(n_words: int, seed: int) -> list[str]:
    """LLM-style response as a list of lines: prose, headings, bullet lists, code."""
    rng = random.Random(seed)
    lines: list[str] = []
    count = 0
    while count < n_words:
        start = len(lines)
        kind = rng.random()
        if kind < 0.1:
            words = [_word(rng).capitalize() for _ in range(rng.randint(2, 5))]
            lines += ["## " + " ".join(words), ""]
        elif kind < 0.3:
            for _ in range(rng.randint(2, 5)):
                words = _sentence(rng)
                lines.append("- " + " ".join(words))
            lines.append("")
        elif kind < 0.42:
            lines.append("```python")
            for _ in range(rng.randint(3, 10)):
                indent = "    " * rng.randint(0, 2)
                a, b = rng.choice(IDENTS), rng.choice(VOCAB)
                lines.append(f"{indent}{b} = {a}({rng.choice(VOCAB)}, {rng.randint(0, 99)})")
            lines += ["```", ""]
        else:
            words = []
            for _ in range(rng.randint(2, 6)):
                words += _sentence(rng)
            lines += [" ".join(words), ""]
        count += sum(len(line.split()) for line in lines[start:])
    return lines


def edit(lines: list[str], fraction: float, seed: int) -> list[str]:
    """Rewrite about ``fraction`` of the words in spans of 1-6 words, as a model would."""
    rng = random.Random(seed)
    words = [line.split(" ") for line in lines]
    total = sum(len(w) for w in words)
    budget = int(total * fraction)
    while budget > 0:
        li = rng.randrange(len(words))
        row = words[li]
        if not row or row == [""] or row[0].startswith("```"):
            continue
        k = rng.randrange(len(row))
        span = min(rng.randint(1, 6), len(row) - k, budget) or 1
        action = rng.random()
        new = [_word(rng) for _ in range(rng.randint(1, 6))]
        if action < 0.6:
            row[k : k + span] = new
        elif action < 0.8 and len(row) > span + 1:
            del row[k : k + span]
        else:
            row[k:k] = new
        budget -= span
    return [" ".join(w) for w in words]


def make_case(n_words: int, level: str, seed: int = 0) -> tuple[str, str]:
    """Two texts of about n_words words at the given edit level."""
    base = generate(n_words, seed=n_words + 1000 * seed)
    a = "\n".join(base) + "\n"
    if level == "rewrite":
        b = "\n".join(generate(n_words, seed=n_words + 1000 * seed + 1)) + "\n"
    else:
        b = "\n".join(edit(base, {"5%": 0.05, "40%": 0.40}[level], seed=7 + seed)) + "\n"
    return a, b


SEEDS = 8


def keys(text: str) -> list[str]:
    return [t for t in tokenize(text) if not t.isspace()]


def lcs_length(a: list[str], b: list[str]) -> int:
    """Exact LCS length, bit-parallel (Allison-Dix/Hyyro) on Python big integers."""
    masks: dict[str, int] = {}
    for j, x in enumerate(b):
        masks[x] = masks.get(x, 0) | (1 << j)
    full = (1 << len(b)) - 1
    v = full
    for x in a:
        m = masks.get(x)
        if m is None:
            continue
        u = v & m
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def minimal_changed(a: str, b: str) -> int:
    ka, kb = keys(a), keys(b)
    return len(ka) + len(kb) - 2 * lcs_length(ka, kb)


def naive_changed(a: str, b: str) -> int:
    """Changed non-whitespace tokens of SequenceMatcher(autojunk=False) on raw tokens."""
    ta, tb = tokenize(a), tokenize(b)
    sm = SequenceMatcher(None, ta, tb, autojunk=False)
    kept = sum(1 for i, _, n in sm.get_matching_blocks() for t in ta[i : i + n] if not t.isspace())
    return len(keys(a)) + len(keys(b)) - 2 * kept


def median_time(
    fn: Callable[[], object], runs: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    times = []
    for _ in range(runs):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def git_time(a: str, b: str, runs: int) -> float | None:
    git = shutil.which("git")
    if git is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = Path(tmp, "a.txt"), Path(tmp, "b.txt")
        pa.write_text(a, encoding="utf-8")
        pb.write_text(b, encoding="utf-8")
        cmd = [git, "diff", "--no-index", "--word-diff=porcelain", str(pa), str(pb)]
        return median_time(lambda: subprocess.run(cmd, capture_output=True), runs)


def screen_time(result: object, runs: int) -> float | None:
    try:
        from core.render import render_screen
    except ImportError:
        return None
    return median_time(lambda: render_screen(result, width=120, height=40), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 50,000 words")
    parser.add_argument("--part", choices=["1", "2"], help="only one part")
    args = parser.parse_args()
    if args.part != "2":
        markdown(args.quick)
    if args.part != "1":
        structured(args.quick)


def markdown(quick: bool) -> None:
    sizes = [100, 1_000, 10_000] if quick else [100, 1_000, 10_000, 50_000]
    header = (
        f"{'words':>6} {'edit':>7} | {'diff ms':>8} {'cpu ms':>7} {'screen ms':>9} | {'changed':>7} "
        f"{'minimal':>7} {'over':>6} {'over*':>6} | {'naive ms':>8} {'naive chg':>9} | {'git ms':>6}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        runs = 7 if n <= 10_000 else 3
        for level in ("5%", "40%", "rewrite"):
            a, b = make_case(n, level)
            result = diff_texts(a, b)
            assert result.a_text == a and result.b_text == b
            t_diff = median_time(lambda a=a, b=b: diff_texts(a, b), runs)
            t_cpu = median_time(lambda a=a, b=b: diff_texts(a, b), runs, time.process_time)
            t_screen = screen_time(result, runs)
            changed = result.added_words + result.removed_words
            minimal = minimal_changed(a, b)
            over = (changed - minimal) / minimal * 100 if minimal else 0.0
            # the same ratio summed over several generated texts, less noisy on short ones
            tot_changed, tot_minimal = changed, minimal
            for seed in range(1, SEEDS if n <= 10_000 else 1):
                sa, sb = make_case(n, level, seed)
                r = diff_texts(sa, sb)
                tot_changed += r.added_words + r.removed_words
                tot_minimal += minimal_changed(sa, sb)
            over_many = (tot_changed - tot_minimal) / tot_minimal * 100 if tot_minimal else 0.0
            if n <= 1_000:
                t_naive = median_time(
                    lambda a=a, b=b: SequenceMatcher(
                        None, tokenize(a), tokenize(b), autojunk=False
                    ).get_opcodes(),
                    3,
                )
                naive = f"{t_naive * 1000:8.1f} {naive_changed(a, b):9d}"
            else:
                naive = f"{'-':>8} {'-':>9}"
            t_git = git_time(a, b, runs)
            git = f"{t_git * 1000:6.1f}" if t_git is not None else f"{'-':>6}"
            screen = f"{t_screen * 1000:9.1f}" if t_screen is not None else f"{'-':>9}"
            print(
                f"{len(a.split()):>6} {level:>7} | {t_diff * 1000:8.1f} {t_cpu * 1000:7.1f} {screen} | "
                f"{changed:7d} {minimal:7d} {over:5.1f}% {over_many:5.1f}% | {naive} | {git}",
                flush=True,
            )
    print(
        "\nchanged/minimal count non-whitespace tokens (words and punctuation) deleted plus "
        "inserted;\nminimal = exact LCS. 'over' is how far above minimal the diff is; a full "
        "rewrite is\ndeliberately reported as whole replaced blocks, so it is expected to be "
        f"above minimal.\nover* = the same over {SEEDS} generated texts per row (one at 50,000 "
        "words). Times are medians;\ngit = whole `git diff --no-index --word-diff=porcelain` "
        "process; naive = SequenceMatcher(autojunk=False)\non raw tokens. screen = wrap all "
        "lines at 120 columns and draw the first 40 rows."
    )




# --------------------------------------------------------------------------- part 2


def _adversarial(n: int) -> dict[str, tuple[str, str]]:
    rng = random.Random(n)
    same = ["x"] * n
    edited = ["y" if rng.random() < 0.1 else "x" for _ in range(n)]
    alt = ["a" if k % 2 else "b" for k in range(n)]
    alt_edited = [("b" if t == "a" else "a") if rng.random() < 0.1 else t for t in alt]
    prose = generate(n, seed=5)
    one = list(prose)
    row = next(k for k, line in enumerate(one) if len(line.split()) > 8)
    words = one[row].split(" ")
    words[3] = "CHANGED"
    one[row] = " ".join(words)
    return {
        "all-identical 10%": (" ".join(same), " ".join(edited)),
        "two-alternating 10%": (" ".join(alt), " ".join(alt_edited)),
        "one-token-changed": ("\n".join(prose) + "\n", "\n".join(one) + "\n"),
    }


def structured(quick: bool) -> None:
    from tests.diff_families import FAMILIES, json_800_records, make, vocab_fences

    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 50_000]
    header = (
        f"{'family':>20} {'tokens':>6} | {'diff ms':>8} {'cpu ms':>7} | {'changed':>7} {'minimal':>7} "
        f"{'ratio':>6} | {'naive ms':>8} {'naive chg':>9} | {'git ms':>6}"
    )
    print("\nrepetitive and structured text, 10 % of tokens edited")
    print(header)
    print("-" * len(header))
    cases: list[tuple[str, str, str]] = []
    for n in sizes:
        cases += [(name, *make(name, n, 0.10, seed=1)) for name in FAMILIES]
    cases.append(("json 800 records 4%", *json_800_records()))
    cases.append(("vocab+fences 10k 5%", *vocab_fences()))
    for n in sizes:
        cases += [(name, a, b) for name, (a, b) in _adversarial(n).items()]
    for name, a, b in cases:
        result = diff_texts(a, b)
        assert result.a_text == a and result.b_text == b
        n_keys = len(keys(a))
        runs = 7 if n_keys <= 10_000 else 3
        t_diff = median_time(lambda a=a, b=b: diff_texts(a, b), runs)
        t_cpu = median_time(lambda a=a, b=b: diff_texts(a, b), runs, time.process_time)
        changed = result.added_words + result.removed_words
        minimal = minimal_changed(a, b)
        ratio = f"{changed / minimal:6.3f}" if minimal else f"{'-':>6}"
        if n_keys <= 1_500:
            t_naive = median_time(
                lambda a=a, b=b: SequenceMatcher(
                    None, tokenize(a), tokenize(b), autojunk=False
                ).get_opcodes(),
                3,
            )
            naive = f"{t_naive * 1000:8.1f} {naive_changed(a, b):9d}"
        else:
            naive = f"{'-':>8} {'-':>9}"
        t_git = git_time(a, b, 3)
        git = f"{t_git * 1000:6.1f}" if t_git is not None else f"{'-':>6}"
        print(
            f"{name:>20} {n_keys:>6} | {t_diff * 1000:8.1f} {t_cpu * 1000:7.1f} | "
            f"{changed:7d} {minimal:7d} "
            f"{ratio} | {naive} | {git}",
            flush=True,
        )
    print("\nstructural JSON diff (changes by JSON path) of the same JSON cases")
    print(f"{'case':>20} {'tokens':>6} | {'paths ms':>8} {'cpu ms':>7} | {'changes':>7}")
    from core.json_diff import json_changes, parse_json_answer

    def paths(a: str, b: str) -> int:
        changes = json_changes(parse_json_answer(a)[1], parse_json_answer(b)[1])
        return len(changes or ())

    for name, a, b in cases:
        if not name.startswith("json"):
            continue
        runs = 7 if len(a) < 100_000 else 3
        t_wall = median_time(lambda a=a, b=b: paths(a, b), runs)
        t_cpu = median_time(lambda a=a, b=b: paths(a, b), runs, time.process_time)
        print(
            f"{name:>20} {len(keys(a)):>6} | {t_wall * 1000:8.1f} {t_cpu * 1000:7.1f} | "
            f"{paths(a, b):7d}",
            flush=True,
        )
    print(
        "\ntokens = non-whitespace tokens of the first text; diff ms = wall-clock median, cpu ms = "
        "process CPU time\n(the same when the machine is idle); ratio = changed / minimal "
        "(target ≤ 1.10;\nthe adversarial rows only need to stay under 1 s). naive = "
        "SequenceMatcher(autojunk=False)\non raw tokens, up to 1,500 tokens."
    )


if __name__ == "__main__":
    main()

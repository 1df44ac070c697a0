"""Startup and filter latency of the terminal app on a store with 10,000 sessions.

    python bench/startup_bench.py [--runs 7] [--sessions 10000]

1. Spawn → first screen: `reprise --db STORE` (the real CLI entry) against a bare Textual
   hello-world app, interleaved in the same run; each child prints the wall-clock time of its
   first completed refresh and exits. Prints medians and the ratio (target ≤ 1.3×).
   Then the same in a real terminal: each app runs in a detached tmux pane and the clock
   stops when `tmux capture-pane` shows the sessions list's rows (a session id) or the bare
   app's text.
   Both run from compiled bytecode (the bench compiles `core/` and `tui/` first, as pip
   does on install). Until the store is open, the list reads its first rows through
   `core.store.peek` (plain sqlite3), so they are in the first frame.
2. Filter keystroke → updated table: in-process, type into the filter one key at a time and
   time the SQL count + page query + rendering of every visible row (target ≤ 30 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("debate", "agent", "support", "triage", "research", "summarize", "batch", "tutor",
         "billing", "search", "claims", "review", "onboarding", "refund", "planner", "coder")
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-20241022", "llama3.1:8b")

BARE = """
import sys, time
from textual.app import App
from textual.widgets import Static
class Hello(App):
    def compose(self):
        yield Static("Hello, world")
    def on_mount(self):
        self.call_after_refresh(self.done)
    def done(self):
        print(time.time(), flush=True)
        self.exit()
Hello().run(headless=True)
"""

REPRISE = """
import sys, time
sys.argv = ["reprise", "--db", sys.argv[1]]
import tui.app
from tui.screens import sessions
mount = sessions.SessionsScreen.on_mount
def on_mount(self):
    mount(self)
    self.call_after_refresh(lambda: print("screen", time.time(), flush=True))
sessions.SessionsScreen.on_mount = on_mount
ready = sessions.SessionsScreen.store_ready
def store_ready(self):
    ready(self)
    table = self.query_one("SessionList")
    def done():
        assert table.total > 0
        print("rows", time.time(), flush=True)
        self.app.exit()
    self.call_after_refresh(done)
sessions.SessionsScreen.store_ready = store_ready
run = tui.app.RepriseApp.run
tui.app.RepriseApp.run = lambda self, **kw: run(self, headless=True)
from tui.cli import main
main()
"""


def make_store(path: Path, count: int) -> None:
    from core.models import LoggedRequest
    from core.store import Store

    start = datetime(2025, 1, 1, tzinfo=UTC)
    requests = []
    for i in range(count):
        created = start + timedelta(minutes=7 * i)
        name = f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7 + 3) % len(WORDS)]} {i}"
        requests.append(LoggedRequest(
            id=f"req-{i:06d}", created_at=created, response_at=created + timedelta(seconds=2),
            session_id=f"sess-{i:06d}", session_name=name,
            session_path=f"/{WORDS[i % len(WORDS)]}/step", model=MODELS[i % len(MODELS)],
            provider="OPENAI", status=200, latency_ms=2000, cost=0.0001 * (i % 13),
            total_tokens=100 + i % 50,
        ))
    with Store(path) as store:
        store.upsert_requests(requests)


def spawn(code: str, *args: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("REPRISE_DB", None)
    start = time.time()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)
    marks: dict[str, float] = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 1:
            marks["screen"] = marks["rows"] = float(parts[0]) - start
        elif len(parts) == 2:
            marks[parts[0]] = float(parts[1]) - start
    if done.returncode != 0 or "rows" not in marks:
        raise SystemExit(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    return marks


async def filter_latency(db: Path) -> tuple[list[float], list[float]]:
    from tui.app import RepriseApp
    from tui.widgets.session_list import SessionList

    app = RepriseApp(db)
    direct: list[float] = []
    roundtrip: list[float] = []
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(SessionList)
        text = ""
        for key in "research agent 12":
            text += key
            start = time.perf_counter()
            table.reload(text)
            for y in range(table.size.height):
                table.render_line(y)
            direct.append((time.perf_counter() - start) * 1000)
        await pilot.press("slash")
        for key in "support":
            start = time.perf_counter()
            await pilot.press(key)
            roundtrip.append((time.perf_counter() - start) * 1000)
        assert table.total > 0
    return direct, roundtrip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reprise-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        start = time.perf_counter()
        make_store(db, args.sessions)
        print(f"store with {args.sessions:,} sessions built in {time.perf_counter() - start:.1f}s")
        # Bytecode as an installed reprise has it (pip compiles it; the children below run
        # with PYTHONDONTWRITEBYTECODE, so without this every spawn would compile the app).
        subprocess.run([sys.executable, "-m", "compileall", "-q", "core", "tui"], cwd=ROOT,
                       check=True, capture_output=True)
        spawn(BARE)  # warm the OS file cache for both
        spawn(REPRISE, str(db))
        bare, screen, rows = [], [], []
        for _ in range(args.runs):
            bare.append(spawn(BARE)["screen"])
            marks = spawn(REPRISE, str(db))
            screen.append(marks["screen"])
            rows.append(marks["rows"])
        mb, ms, mr = (statistics.median(v) for v in (bare, screen, rows))
        print(f"spawn → first screen, median of {args.runs} runs:")
        print(f"  bare Textual hello-world        {mb * 1000:6.0f} ms   {_fmt(bare)}")
        print(f"  reprise first screen            {ms * 1000:6.0f} ms   {_fmt(screen)}"
              f"   ratio {ms / mb:.2f}×  (target ≤ 1.30×)")
        print(f"  reprise first rows (10k store)  {mr * 1000:6.0f} ms   {_fmt(rows)}"
              f"   ratio {mr / mb:.2f}×")
        terminal_startup(db, args.runs)
        direct, roundtrip = asyncio.run(filter_latency(db))
        print(f"filter keystroke → updated table over {args.sessions:,} sessions:")
        print(f"  query + render visible rows  median {statistics.median(direct):5.1f} ms,"
              f" max {max(direct):5.1f} ms  (target ≤ 30 ms)")
        print(f"  full key press round trip    median {statistics.median(roundtrip):5.1f} ms,"
              f" max {max(roundtrip):5.1f} ms  (pilot: key event → handlers → idle)")


BARE_TERMINAL = """
from textual.app import App
from textual.widgets import Static
class Hello(App):
    def compose(self):
        yield Static("Hello, world")
Hello().run()
"""


def in_tmux(command: list[str], marker: str, timeout: float = 30.0) -> float:
    """Seconds from spawning `command` in a real terminal (a detached tmux pane, 120×36)
    until `marker` is on screen, read with `tmux capture-pane` every 5 ms."""
    name = f"reprise-bench-{os.getpid()}"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("REPRISE_DB", None)
    shell = " ".join(_quote(part) for part in command)
    start = time.perf_counter()
    subprocess.run([*TMUX, "new-session", "-d", "-s", name, "-x", "120", "-y", "36",
                    f"cd {_quote(str(ROOT))} && exec {shell}"], check=True, env=env)
    try:
        while time.perf_counter() - start < timeout:
            pane = subprocess.run([*TMUX, "capture-pane", "-p", "-t", name],
                                  capture_output=True, text=True).stdout
            if marker in pane:
                return time.perf_counter() - start
            time.sleep(0.005)
        raise SystemExit(f"{marker!r} never appeared: {pane[-500:]}")
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", name], capture_output=True)


# A private tmux server kept up by an idle session for the whole measurement: otherwise
# every run pays for starting a server, and a run can race the previous server's exit.
TMUX = ["tmux", "-L", f"reprise-bench-{os.getpid()}"]


@contextlib.contextmanager
def tmux_server() -> Iterator[None]:
    subprocess.run([*TMUX, "new-session", "-d", "-s", "idle", "sleep 3600"], check=True)
    try:
        yield
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def terminal_startup(db: Path, runs: int) -> None:
    """Spawn → first rows in a real terminal, against a bare Textual app's first frame."""
    import shutil

    if shutil.which("tmux") is None:
        print("tmux not found: skipping the real-terminal measurement")
        return
    reprise = [sys.executable, "-c", "from tui.cli import main; main()", "--db", str(db)]
    bare_cmd = [sys.executable, "-c", BARE_TERMINAL]
    bare, rows = [], []
    with tmux_server():
        in_tmux(bare_cmd, "Hello, world")  # warm the file cache
        in_tmux(reprise, "sess-")
        for _ in range(runs):
            bare.append(in_tmux(bare_cmd, "Hello, world"))
            rows.append(in_tmux(reprise, "sess-"))  # a session id in the table: rows listed
    mb, mr = statistics.median(bare), statistics.median(rows)
    print(f"real terminal (tmux 120×36), spawn → on screen, median of {runs} runs:")
    print(f"  bare Textual hello-world        {mb * 1000:6.0f} ms   {_fmt(bare)}")
    print(f"  reprise sessions with rows      {mr * 1000:6.0f} ms   {_fmt(rows)}"
          f"   ratio {mr / mb:.2f}×  (target ≤ 1.30×)")


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v * 1000:.0f}" for v in values) + "]"


if __name__ == "__main__":
    main()

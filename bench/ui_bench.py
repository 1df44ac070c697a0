"""How long the app's event loop can freeze in its heaviest flows, on the 520-request session.

    python bench/ui_bench.py [--keys 30] [--jumps 10]

Drives the real app headlessly (Textual's pilot) on a copy of the demo store, replaying
against a fast loopback OpenAI-compatible server (tests/servers.py, in its own process): open
the 520-request batch session, replay it twice, open the replays list and compare the two
replays, jump with n/p, type in the matrix setup and run that matrix. A probe task on the
app's own event loop wakes every millisecond; the longest gap between wake-ups in each phase
is the longest the screen could not answer a key or paint. Target: no stall over 50 ms. A
bare Textual app under the same probe is the reference (what the probe reads when nothing is
blocking). Beside each stall, the CPU the UI thread itself spent in it: on a loaded machine
the rest of a stall is time spent waiting for a core (replays and matrices run in a process
of their own). `--where` samples where the UI thread was during stalls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TICK = 0.001
TARGET_MS = 50.0


class StallWitness:
    """A thread that, while the loop is stalled, notes where the main thread is (--where)."""

    def __init__(self, probe: StallProbe, threshold: float = 0.04) -> None:
        import collections
        import threading

        self.probe = probe
        self.threshold = threshold
        self.seen: collections.Counter[str] = collections.Counter()
        self.main = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import traceback

        while not self._stop.wait(0.01):
            if time.perf_counter() - self.probe.last_tick < self.threshold:
                continue
            frame = sys._current_frames().get(self.main)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)
            ours = [f for f in stack if "/core/" in f.filename or "/tui/" in f.filename]
            where = " < ".join(f"{Path(f.filename).parent.name}/{Path(f.filename).name}:"
                               f"{f.lineno} {f.name}" for f in reversed(ours[-3:]))
            if not where:  # Textual's own work: name its innermost widget-level frames
                mine = [f for f in stack if "/textual/" in f.filename
                        and "/asyncio/" not in f.filename][-12:]
                where = "textual: " + " < ".join(
                    f"{Path(f.filename).stem}.{f.name}" for f in reversed(mine[-4:]))
            self.seen[where] += 1

    def stop(self) -> None:
        self._stop.set()


class StallProbe:
    """Longest gap between wake-ups of a task sleeping `TICK` on the event loop.

    Also the most CPU the UI thread spent inside one gap (`busy`): on a loaded machine a
    gap also holds time the thread waited for a core (other processes) or for the GIL
    (the replay engine's thread); `busy` is the part that was the UI thread's own work.
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self.busy = 0.0
        self.last_tick = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def reset(self) -> float:
        worst, self.worst = self.worst, 0.0
        self.busy = 0.0
        return worst * 1000

    def reset_busy(self) -> float:
        busy, self.busy = self.busy, 0.0
        return busy * 1000

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            cpu = time.thread_time()
            await asyncio.sleep(TICK)
            self.last_tick = time.perf_counter()
            self.worst = max(self.worst, time.perf_counter() - before - TICK)
            self.busy = max(self.busy, time.thread_time() - cpu)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def settle(pilot) -> None:
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def until(pilot, predicate, timeout: float = 300.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.02)


def machine_speed() -> float:
    """Milliseconds for one million pure-Python additions: the same machine runs 25 % faster
    or slower from one minute to the next, and every figure here moves with it."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best * 1000


async def bare_reference(seconds: float) -> float:
    from textual.app import App
    from textual.widgets import Static

    class Bare(App[None]):
        def compose(self):
            yield Static("Hello, world")

    probe = StallProbe()
    async with Bare().run_test(size=(120, 36)) as pilot:
        probe.start()
        await pilot.pause()
        probe.reset()
        await asyncio.sleep(seconds)
        worst = probe.reset()
        probe.stop()
    return worst


async def drive(keys: int, jumps: int,
                where: bool) -> list[tuple[str, float, float, float, float]]:
    from core.demo import demo_store_copy
    from core.store import Store
    from tui.app import RepriseApp
    from tui.config import Config, ReplayDefaults
    from tui.screens.diff import DiffScreen
    from tui.screens.matrix_setup import PLAN_DELAY, MatrixSetup
    from tui.screens.session import SessionScreen

    phases: list[tuple[str, float, float, float, float]] = []
    # The provider runs in its own process: its threads must not share the app's GIL.
    server = subprocess.Popen([sys.executable, "-m", "tests.servers"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(demo_store_copy(Path(tmp)))
        batch = store.list_sessions(sort="requests", descending=True, limit=1)[0]
        config = Config(replay=ReplayDefaults(target="base_url",
                                              base_url=base_url + "/v1", concurrency=16))
        app = RepriseApp(store, config)
        probe = StallProbe()
        witness = StallWitness(probe) if where else None
        async with app.run_test(size=(120, 36)) as pilot:
            probe.start()
            await settle(pilot)
            probe.reset()

            async def phase(name: str, action) -> None:
                probe.reset()
                started = time.perf_counter()
                await action()
                await settle(pilot)
                busy = probe.reset_busy()
                phases.append((name, probe.reset(), busy, time.perf_counter() - started,
                               machine_speed()))
                await pilot.pause(0.02)  # the probe notes the speed test's gap: the next
                probe.reset()  # phase must not count it
                if witness is not None:
                    for spot, count in witness.seen.most_common(6):
                        print(f"  {name}: {count * 10:>5} ms stalled in {spot}")
                    witness.seen.clear()

            async def open_session() -> None:
                app.open_session(batch.id)
                await until(pilot, lambda: isinstance(app.screen, SessionScreen))

            await phase(f"open the {batch.requests}-request session", open_session)
            session = app.screen

            async def replay() -> None:
                await pilot.press("r")
                await settle(pilot)
                await pilot.press("ctrl+s")
                await until(pilot, lambda: session.replay_worker is not None)
                await until(pilot, lambda: session.replay_worker.is_finished)

            await phase("replay it (1st)", replay)
            await phase("replay it (2nd)", replay)

            async def compare() -> None:
                await pilot.press("R")
                await settle(pilot)
                await pilot.press("c", "down", "enter")
                await until(pilot, lambda: isinstance(app.screen, DiffScreen)
                            and app.screen.shown is not None)

            await phase("open replay-vs-replay diff", compare)
            diff = app.screen

            async def jump() -> None:
                for key in ("n", "p") * (jumps // 2):
                    await pilot.press(key)
                    await until(pilot, lambda: diff.shown is not None
                                and diff.shown.request_id == diff.current)

            await phase(f"n/p × {jumps}", jump)

            async def matrix_setup() -> None:
                await pilot.press("escape")
                await settle(pilot)
                await pilot.press("M")
                await until(pilot, lambda: isinstance(app.screen, MatrixSetup))
                await settle(pilot)
                area = app.screen.query(".matrix-variants")
                if area:
                    area.first().focus()
                for char in ("+ Be brief. " * 4)[:keys]:
                    await pilot.press("space" if char == " " else char)
                await pilot.pause(PLAN_DELAY + 0.05)

            await phase(f"type {keys} keys in the matrix setup", matrix_setup)

            async def matrix_run() -> None:
                from tui.screens.matrix import MatrixScreen

                await pilot.press("ctrl+s")
                await until(pilot, lambda: isinstance(app.screen, MatrixScreen)
                            and app.screen.run_worker_ is not None)
                matrix = app.screen
                await until(pilot, lambda: matrix.run_worker_.is_finished)

            await phase(f"run that matrix (2 cells × {batch.requests})", matrix_run)
            probe.stop()
        if witness is not None:
            witness.stop()
        store.close()
    server.terminate()
    server.wait(10)
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--jumps", type=int, default=10)
    parser.add_argument("--where", action="store_true",
                        help="also print where the UI thread was during stalls over 40 ms")
    args = parser.parse_args()
    load = os.getloadavg()
    speed = machine_speed()
    reference = asyncio.run(bare_reference(1.0))
    phases = asyncio.run(drive(args.keys, args.jumps, args.where))
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'phase':<40} {'longest stall':>14} {'UI work in it':>14} {'wall':>8}"
          f" {'speed':>7}")
    print(f"{'bare Textual app, idle 1 s (reference)':<40} {reference:>11.1f} ms {'':>14} {'':>8}")
    for name, worst, busy, wall, speed_after in phases:
        flag = "" if worst <= TARGET_MS else "  > target"
        print(f"{name:<40} {worst:>11.1f} ms {busy:>11.1f} ms {wall:>7.1f}s"
              f" {speed_after:>4.0f} ms{flag}")
    worst = max(phase[1] for phase in phases)
    busiest = max(phase[2] for phase in phases)
    print(f"longest stall overall: {worst:.1f} ms (target ≤ {TARGET_MS:.0f} ms); most UI-thread"
          f" CPU in one stall: {busiest:.1f} ms")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"machine speed: 1M Python additions took {speed:.0f} ms before, "
          f"{machine_speed():.0f} ms after (column `speed`: right after each phase)")


if __name__ == "__main__":
    main()

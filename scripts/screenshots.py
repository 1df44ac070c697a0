"""Drive the real app on the demo store and write `screenshots/*.svg` for every screen.

    python scripts/screenshots.py            # replay through the local model when installed
    python scripts/screenshots.py --seeded   # use a stored deterministic replay instead

Screens: sessions, session tree, editing, replay in progress, inline diff, side-by-side diff,
help. The terminal is 120×36, as in the snapshot tests.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.demo import demo_store_copy  # noqa: E402
from core.demo_replay import DEMO_EDIT, seed_demo_replay  # noqa: E402
from core.store import Store  # noqa: E402
from tui.app import RepriseApp  # noqa: E402
from tui.config import Config  # noqa: E402

SIZE = (120, 36)


async def wait_until(pilot, predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.1)
    return True


async def capture(out: Path, seeded: bool) -> list[Path]:
    store = Store(demo_store_copy())
    if seeded:
        seed_demo_replay(store)
    written: list[Path] = []
    app = RepriseApp(store, Config())

    def save(name: str) -> None:
        path = out / f"{name}.svg"
        app.save_screenshot(str(path))
        written.append(path)
        print(f"wrote {path}")

    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        save("sessions")
        await pilot.press("slash", *"debate", "enter")
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        save("session-tree")
        session = app.screen
        await pilot.press("k", "e")
        await pilot.pause()
        editor = session.query_one("#editor-text")
        editor.load_text(DEMO_EDIT.text)
        await pilot.pause()
        save("editing")
        await pilot.press("ctrl+s")
        await pilot.pause()
        if not seeded:
            await pilot.press("r")
            await pilot.pause()
            save("replay-form")
            await pilot.press("ctrl+s")
            tree = session.query_one("#tree")
            await wait_until(
                pilot, lambda: sum(s == "done" for s in tree.states.values()) >= 3, 300
            )
            save("replay-in-progress")
            done = await wait_until(pilot, lambda: session.replay_worker.is_finished, 900)
            if not done:
                raise SystemExit("the replay did not finish in time")
            await pilot.pause()
        else:
            save("replay-in-progress")
        await pilot.press("d")
        await pilot.pause()
        save("diff-inline")
        await pilot.press("s")
        await pilot.pause()
        save("diff-side-by-side")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        save("help")
    store.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeded", action="store_true",
                        help="use a stored deterministic replay instead of the local model")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    seeded = args.seeded
    if not seeded:
        from core.local_model import local_runtime_available

        if not local_runtime_available():
            print("local model not installed: using a stored deterministic replay")
            seeded = True
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(capture(args.out, seeded))


if __name__ == "__main__":
    main()

"""Drive the real app on the demo store and write `screenshots/*.svg` for every screen.

    python scripts/screenshots.py            # replay through the local model when installed
    python scripts/screenshots.py --seeded   # use a stored deterministic replay instead

Screens: sessions, session tree, editing, replay in progress, inline diff, side-by-side diff,
the exported report (the app with the export notification, plus `report.md` and
`report.html`, the report itself, rendered to `report-html.png` when Chromium is installed),
help, the matrix setup and the matrix results (a real matrix through the local model when
installed, else a stored deterministic one). The terminal is 120×36, as in the snapshot
tests; `narrow-*.svg` show the main screens at 80×24 (on the stored deterministic replay and
matrix, the matrix setup included), where every screen keeps its essential columns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
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
NARROW = (80, 24)


async def wait_until(pilot, predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.1)
    return True


async def quiet(pilot, app: RepriseApp) -> None:
    """No toasts on the screen a modal will cover: they would show through behind it."""
    app.clear_notifications()
    await pilot.pause()


async def capture(out: Path, seeded: bool) -> list[Path]:
    store = Store(demo_store_copy())
    if seeded:
        seed_demo_replay(store)
    written: list[Path] = []
    app = RepriseApp(store, Config())

    async def save(name: str) -> None:
        if name != "report":  # only the export screenshot shows its notification
            app.clear_notifications()
            await pilot.pause()  # the toasts leave the screen before it is taken
        path = out / f"{name}.svg"
        app.save_screenshot(str(path))
        written.append(path)
        print(f"wrote {path}")

    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await save("sessions")
        await pilot.press("slash", *"debate", "enter")
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        await save("session-tree")
        session = app.screen
        await pilot.press("k", "e")
        await pilot.pause()
        editor = session.query_one("#editor-text")
        editor.load_text(DEMO_EDIT.text)
        await pilot.pause()
        await save("editing")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await quiet(pilot, app)
        if not seeded:
            await pilot.press("r")
            await pilot.pause()
            await save("replay-form")
            await pilot.press("ctrl+s")
            tree = session.query_one("#tree")
            await wait_until(
                pilot, lambda: sum(s == "done" for s in tree.states.values()) >= 3, 300
            )
            await save("replay-in-progress")
            done = await wait_until(pilot, lambda: session.replay_worker.is_finished, 900)
            if not done:
                raise SystemExit("the replay did not finish in time")
            await pilot.pause()
        else:
            await quiet(pilot, app)
            await pilot.press("r")
            await pilot.pause()
            await save("replay-form")
            await pilot.press("escape")
            await pilot.pause()
            await save("replay-in-progress")
        await pilot.press("d")
        await pilot.pause()
        await save("diff-inline")
        await pilot.press("s")
        await pilot.pause()
        await save("diff-side-by-side")
        await pilot.press("s")
        diff = app.screen
        with tempfile.TemporaryDirectory() as scratch:
            here = Path.cwd()
            os.chdir(scratch)
            try:
                await pilot.press("x")
                html = diff.export_path("html")
                await wait_until(pilot, lambda: any(
                    "exported" in n.message for n in app._notifications), 60)
                await pilot.pause(0.5)
                await save("report")
                diff.action_export("md")
                md = diff.export_path("md")
                await wait_until(pilot, md.exists, 60)
                await pilot.pause(0.3)
                for source, name in ((html, "report.html"), (md, "report.md")):
                    shutil.copyfile(source, out / name)
                    written.append(out / name)
                    print(f"wrote {out / name}")
            finally:
                os.chdir(here)
        await pilot.press("escape")
        await pilot.pause()
        await quiet(pilot, app)
        await pilot.press("f1")
        await pilot.pause()
        await save("help")
        await pilot.press("escape")
        await pilot.pause()
        await capture_matrix(pilot, app, session, seeded, save)
    store.close()
    return written


async def capture_matrix(pilot, app: RepriseApp, session, seeded: bool, save) -> None:
    """The matrix setup (pending edit as a variant), then the results of a matrix."""
    from tui.screens.matrix import MatrixScreen

    await quiet(pilot, app)
    await pilot.press("M")
    await pilot.pause()
    setup = app.screen
    await pilot.pause(0.3)
    await save("matrix-setup")
    if seeded:
        from tests.test_app_matrix import seed_matrix

        await pilot.press("escape")
        await pilot.pause()
        app.push_screen(MatrixScreen(matrix_id=seed_matrix(app.store)))
        await pilot.pause()
    else:
        setup.query_one("#matrix-parallel").value = "1"
        await pilot.press("ctrl+s")
        await pilot.pause()
        screen = app.screen
        await wait_until(pilot, lambda: screen.run_worker_ is not None, 10)
        done = await wait_until(pilot, lambda: screen.run_worker_.is_finished, 1800)
        if not done:
            raise SystemExit("the matrix did not finish in time")
    screen = app.screen
    await wait_until(pilot, lambda: screen.table is not None
                     and all(r.status in ("done", "failed") for r in screen.table.rows), 120)
    await pilot.pause(0.5)
    await save("matrix")


async def capture_narrow(out: Path) -> list[Path]:
    """The main screens and modals at 80×24, on a stored replay and a stored matrix."""
    from core.demo_replay import DEBATE_SESSION
    from tests.test_app_matrix import seed_matrix
    from tui.screens.matrix import MatrixScreen

    store = Store(demo_store_copy())
    matrix_id = seed_matrix(store)
    seed_demo_replay(store)  # newest: the session's current replay
    written: list[Path] = []
    app = RepriseApp(store, Config())

    async def save(name: str) -> None:
        app.clear_notifications()
        await pilot.pause()  # the toasts leave the screen before it is taken
        path = out / f"narrow-{name}.svg"
        app.save_screenshot(str(path))
        written.append(path)
        print(f"wrote {path}")

    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await pilot.pause()
        await save("sessions")
        app.open_session(DEBATE_SESSION)
        await pilot.pause()
        await pilot.pause()
        session = app.screen
        await pilot.press("e")
        await pilot.pause()
        session.query_one("#editor-text").load_text(DEMO_EDIT.text)
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()
        await save("session-tree")
        await pilot.press("r")
        await pilot.pause()
        await save("replay-form")
        await pilot.press("escape", "R")
        await pilot.pause()
        await save("replays")
        await pilot.press("escape", "d")
        await pilot.pause()
        await save("diff")
        await pilot.press("s")
        await pilot.pause()
        await save("diff-side-by-side")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("M")  # the pending edit becomes a variant
        setup = app.screen
        await wait_until(pilot, lambda: "plan:" in str(setup.query_one("#matrix-plan").render())
                         and setup.query_one("#score-0").value, 30)
        await pilot.pause(0.3)
        await save("matrix-setup")
        await pilot.press("escape")
        await pilot.pause()
        app.push_screen(MatrixScreen(matrix_id=matrix_id))
        await pilot.pause()
        screen = app.screen
        await wait_until(pilot, lambda: screen.table is not None, 60)
        await pilot.pause(0.3)
        await save("matrix")
        await pilot.press("f1")
        await pilot.pause()
        await save("help")
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
    asyncio.run(capture_narrow(args.out))
    render_report(args.out / "report.html", args.out / "report-html.png")


def render_report(html: Path, png: Path) -> None:
    """The exported HTML report as a picture, when a headless Chromium is installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None or not html.exists():
        print("chromium not found: the HTML report is not rendered to PNG")
        return
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1200,1400", "--hide-scrollbars",
             f"--screenshot={png}", html.resolve().as_uri()],
            check=False, capture_output=True, timeout=60,
        )
    if png.exists():
        print(f"wrote {png}")


if __name__ == "__main__":
    main()

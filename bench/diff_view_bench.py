"""How fast the diff view paints its first screen for a large diff.

A real Textual app (headless, driven by Pilot) holds a ``DiffView`` 120x40. For diffs of
1k / 10k / 50k tokens (prose with 10 % of the tokens edited, indented JSON with 10 % of
the values changed) it prints: the time to compute the diff (``diff_texts``, separate —
the app does it in a worker), then from ``set_result`` until the last visible row of the
first screen has been drawn, for the inline view, after switching to side by side, and
after jumping to the middle. Reference in the same run: laying out the whole diff as one
``Text`` (``render_inline``), what a viewer without row-level laziness pays up front.
Target: first screen ≤ 100 ms at 50k tokens.

Run: ``python bench/diff_view_bench.py``
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult  # noqa: E402
from textual.strip import Strip  # noqa: E402

from core.diff import DiffResult, diff_texts  # noqa: E402
from core.render import DiffLayout, render_inline  # noqa: E402
from tests.diff_families import keys, make  # noqa: E402
from tui.widgets.diff_view import DiffView  # noqa: E402

WIDTH, HEIGHT = 120, 40


class TimedView(DiffView):
    """Notes when the last row of the visible screen is drawn."""

    painted: asyncio.Event | None = None

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if y == self.size.height - 1 and self.painted is not None:
            self.painted.set()
        return strip


class ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TimedView(id="view")


async def _paint(app: ViewApp, view: TimedView, action: object) -> float:
    view.painted = asyncio.Event()
    t0 = time.perf_counter()
    action()  # type: ignore[operator]
    await asyncio.wait_for(view.painted.wait(), 10)
    elapsed = time.perf_counter() - t0
    view.painted = None
    return elapsed


async def measure(result: DiffResult, runs: int = 5) -> dict[str, float]:
    times: dict[str, list[float]] = {"open": [], "side": [], "middle": []}
    app = ViewApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        view = app.query_one(TimedView)
        await pilot.pause()
        for _ in range(runs):
            view.side_by_side = False
            await pilot.pause()
            times["open"].append(await _paint(app, view, lambda: view.set_result(result)))
            await pilot.pause()

            def side() -> None:
                view.side_by_side = True

            times["side"].append(await _paint(app, view, side))
            await pilot.pause()

            def middle() -> None:
                view.scroll_to(y=view.virtual_size.height // 2, animate=False)

            times["middle"].append(await _paint(app, view, middle))
            await pilot.pause()
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    print(
        f"{'case':>14} {'tokens':>6} | {'diff ms':>8} | {'open ms':>8} {'side ms':>8} "
        f"{'middle ms':>9} | {'layout cpu':>10} | {'whole Text ms':>13}"
    )
    print("-" * 93)
    for n in (1_000, 10_000, 50_000):
        for family in ("prose", "json-indented"):
            a, b = make(family, n, 0.10, seed=2)
            t0 = time.perf_counter()
            result = diff_texts(a, b)
            t_diff = time.perf_counter() - t0
            t0 = time.perf_counter()
            render_inline(result)
            t_whole = time.perf_counter() - t0
            t0 = time.process_time()
            layout = DiffLayout(result)
            layout.set_width(WIDTH, rows=HEIGHT)
            for y in range(HEIGHT):
                layout.row(y)
            t_layout = time.process_time() - t0
            got = asyncio.run(measure(result))
            print(
                f"{family:>14} {len(keys(a)):>6} | {t_diff * 1000:8.1f} | "
                f"{got['open'] * 1000:8.1f} {got['side'] * 1000:8.1f} "
                f"{got['middle'] * 1000:9.1f} | {t_layout * 1000:10.1f} | {t_whole * 1000:13.1f}",
                flush=True,
            )
    print(
        "\nopen = set_result until the 40th row is drawn (inline); side = switching to side "
        "by side;\nmiddle = jumping to the middle of the diff. Medians of 5 in a headless "
        f"{WIDTH}x{HEIGHT} app.\nlayout cpu = CPU time to lay out and build the first screen's rows "
        "(DiffLayout);\nwhole Text = render_inline of the whole diff (reference)."
    )


if __name__ == "__main__":
    main()

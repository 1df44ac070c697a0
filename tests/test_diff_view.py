"""DiffView: draws visible rows, toggles side by side, shows markup literally."""

from __future__ import annotations

from textual.app import App, ComposeResult

from core.diff import diff_texts
from core.render import DiffLayout
from tui.widgets.diff_view import DiffView

A = "Keep this line.\nThe [bold]old[/bold] value \x1b[31mred\x1b[0m.\n" + "filler line\n" * 60
B = "Keep this line.\nThe [bold]new[/bold] value \x1b[31mred\x1b[0m.\n" + "filler line\n" * 60


class DiffApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DiffView(diff_texts(A, B))


def _visible(view: DiffView) -> list[str]:
    return [view.render_line(y).text for y in range(view.size.height)]


async def test_renders_lines_and_toggles_side_by_side() -> None:
    app = DiffApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(DiffView)
        await pilot.pause()
        lines = _visible(view)
        assert lines[0].startswith("Keep this line.")
        assert "[bold]oldnew[/bold]" in lines[1]  # markup shown literally, not applied
        assert "␛[31mred␛[0m" in lines[1]  # escape sequences made visible
        assert view.virtual_size.height >= 62

        view.focus()
        await pilot.press("s")
        await pilot.pause()
        assert view.side_by_side
        lines = _visible(view)
        assert "│" in lines[1]
        left, right = lines[1].split("│", 1)
        assert "[bold]old[/bold]" in left and "new" not in left
        assert "[bold]new[/bold]" in right

        view.scroll_end(animate=False)
        await pilot.pause()
        assert "filler line" in "".join(_visible(view))


async def test_large_diff_renders_only_what_is_visible() -> None:
    words = " ".join(f"w{i % 500}" for i in range(50_000))
    a = "\n\n".join(words[i : i + 600] for i in range(0, len(words), 600))
    b = a.replace("w7 ", "seven ")
    app = DiffApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(DiffView)
        view.set_result(diff_texts(a, b))
        await pilot.pause()
        assert view.virtual_size.height > 1000
        assert len(view._strips) <= 200
        view.scroll_to(y=view.virtual_size.height // 2, animate=False)
        await pilot.pause()
        assert any("w" in line for line in _visible(view))


async def test_long_diff_paints_first_screen_then_finishes_layout() -> None:
    words = " ".join(f"w{i % 500}" for i in range(50_000))
    a = "\n".join(words[i : i + 300] for i in range(0, len(words), 300))
    b = a.replace("w7 ", "seven ")
    result = diff_texts(a, b)
    app = DiffApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(DiffView)
        view.set_result(result)
        layout = view.layout_rows
        assert not layout.complete  # only the first screen is laid out before painting
        assert layout.row_count >= view.size.height
        await pilot.pause()
        assert _visible(view)[0].startswith("w0 w1")
        for _ in range(1_000):  # slices run between frames; generous for a busy machine
            if layout.complete:
                break
            await pilot.pause(0.02)
        assert layout.complete
        assert view.virtual_size.height == layout.row_count
        full = DiffLayout(result)
        assert full.set_width(layout.width) == layout.row_count
        view.scroll_end(animate=False)
        await pilot.pause()
        assert any("seven" in line or "w" in line for line in _visible(view))

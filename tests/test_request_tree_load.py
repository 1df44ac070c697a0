"""A large session's tree fills in over frames without drawing its visible lines again."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Tree

from core.tree import build_tree
from tests.test_app import SIZE, make_request
from tui.widgets.request_tree import LOAD_CHUNK, RequestTree


class TreeApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RequestTree(id="tree")


async def test_lines_drawn_while_loading_are_kept_and_stay_right(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Folders of 40 leaves: later chunks add leaves to folders already on screen too.
    requests = [make_request("s-big", "Big", i, f"/batch/part-{i // 40}", f"step-{i}")
                for i in range(4 * LOAD_CHUNK)]
    drawn: Counter[int] = Counter()
    original = RequestTree.render_label

    def counting(self: RequestTree, node: Any, base_style: Any, style: Any) -> Any:
        drawn[node.id] += 1
        return original(self, node, base_style, style)

    monkeypatch.setattr(RequestTree, "render_label", counting)
    chunks: list[int] = []
    load_chunk = RequestTree._load_chunk

    def counting_chunks(self: RequestTree, generation: int) -> None:
        chunks.append(generation)
        load_chunk(self, generation)

    monkeypatch.setattr(RequestTree, "_load_chunk", counting_chunks)
    app = TreeApp()
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(RequestTree)
        tree.load(build_tree(requests), "Big")
        while tree.is_loading:
            await pilot.pause()
        await pilot.pause()
        assert len(chunks) >= 4
        assert drawn, "nothing was drawn"
        # Each visible line was drawn once (a line whose folder gained a child: once more),
        # not once per chunk.
        assert max(drawn.values()) <= 2, drawn.most_common(3)

        shown = [strip.text for strip in tree.render_lines(tree.region.reset_offset)]
        Tree._invalidate(tree)  # draw everything from scratch: the same lines
        assert [strip.text for strip in tree.render_lines(tree.region.reset_offset)] == shown
        assert any("step-0" in line for line in shown)


async def test_folding_while_loading_draws_the_lines_anew(
        monkeypatch: pytest.MonkeyPatch) -> None:
    requests = [make_request("s-big", "Big", i, f"/batch/part-{i // 40}", f"step-{i}")
                for i in range(4 * LOAD_CHUNK)]
    load_chunk = RequestTree._load_chunk
    chunks: list[int] = []

    def fold_after_the_first_chunk(self: RequestTree, generation: int) -> None:
        chunks.append(generation)
        if len(chunks) == 2:  # the first chunk was drawn: "step-0" is on screen
            self.root.children[0].children[0].collapse()  # every line below moves up
        load_chunk(self, generation)

    monkeypatch.setattr(RequestTree, "_load_chunk", fold_after_the_first_chunk)
    app = TreeApp()
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(RequestTree)
        tree.load(build_tree(requests), "Big")
        while tree.is_loading:
            await pilot.pause()
        await pilot.pause()
        assert len(chunks) >= 2
        shown = [strip.text for strip in tree.render_lines(tree.region.reset_offset)]
        Tree._invalidate(tree)
        assert [strip.text for strip in tree.render_lines(tree.region.reset_offset)] == shown
        assert not any("step-0 " in line for line in shown)
        assert any("part-1" in line for line in shown)

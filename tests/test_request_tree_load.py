"""A large session's tree fills in over frames without drawing its visible lines again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
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


def watch_chunks(monkeypatch: pytest.MonkeyPatch,
                 before: Callable[[RequestTree, int], None] | None = None) -> list[int]:
    """The chunks the tree adds; `before(tree, n)` runs before the n-th (from 1)."""
    chunks: list[int] = []
    load_chunk = RequestTree._load_chunk

    def counting(self: RequestTree, generation: int) -> None:
        chunks.append(generation)
        if before is not None:
            before(self, len(chunks))
        load_chunk(self, generation)

    monkeypatch.setattr(RequestTree, "_load_chunk", counting)
    return chunks


async def load_big_session() -> tuple[RequestTree, list[str], list[str]]:
    """Load four chunks' worth of requests in folders of 40 (later chunks also add leaves
    to folders already on screen); the lines shown, then the same drawn from scratch."""
    requests = [make_request("s-big", "Big", i, f"/batch/part-{i // 40}", f"step-{i}")
                for i in range(4 * LOAD_CHUNK)]
    app = TreeApp()
    async with app.run_test(size=SIZE) as pilot:
        tree = app.query_one(RequestTree)
        tree.load(build_tree(requests), "Big")
        while tree.is_loading:
            await pilot.pause()
        await pilot.pause()
        shown = [strip.text for strip in tree.render_lines(tree.region.reset_offset)]
        Tree._invalidate(tree)  # every line drawn anew
        fresh = [strip.text for strip in tree.render_lines(tree.region.reset_offset)]
    return tree, shown, fresh


async def test_lines_drawn_while_loading_are_kept_and_stay_right(
        monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: Counter[int] = Counter()
    original = RequestTree.render_label

    def counting(self: RequestTree, node: Any, base_style: Any, style: Any) -> Any:
        drawn[node.id] += 1
        return original(self, node, base_style, style)

    monkeypatch.setattr(RequestTree, "render_label", counting)
    chunks = watch_chunks(monkeypatch)
    _tree, shown, fresh = await load_big_session()
    assert len(chunks) >= 4
    # Each visible line was drawn once while loading (a line whose folder gained a child:
    # once more) and once from scratch at the end, not once per chunk.
    assert drawn and max(drawn.values()) <= 3, drawn.most_common(3)
    assert shown == fresh
    assert any("step-0" in line for line in shown)


async def test_folding_while_loading_draws_the_lines_anew(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def fold(tree: RequestTree, chunk: int) -> None:
        if chunk == 2:  # the first chunk was drawn: "step-0" is on screen
            tree.root.children[0].children[0].collapse()  # every line below moves up

    chunks = watch_chunks(monkeypatch, fold)
    _tree, shown, fresh = await load_big_session()
    assert len(chunks) >= 2
    assert shown == fresh
    assert not any("step-0 " in line for line in shown)
    assert any("part-1" in line for line in shown)

"""The session's requests as a tree by session path, with live replay states."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from core.models import LoggedRequest
from core.text import literal
from core.tree import TreeFolder
from tui.widgets.badges import (
    BADGE_CLASSES,
    EDITED_SYMBOL,
    FALLBACK,
    STATE_SYMBOLS,
    state_badge,
    state_style,
)
from tui.widgets.text import duration

if TYPE_CHECKING:
    from core.replay.models import ReplayResult

PROVIDER_ICONS = {"openai": "◎", "anthropic": "✳", "azure": "◈", "ollama": "◉"}
# Symbol and fallback style per state; the app colours them from the theme (badges.py).
STATE_BADGES = {state: (symbol, FALLBACK[state]) for state, symbol in STATE_SYMBOLS.items()}

Node = TreeNode["TreeFolder | LoggedRequest"]
LOAD_CHUNK = 150  # nodes added per frame while a large session's tree fills in


def _requests(folder: TreeFolder) -> Iterator[LoggedRequest]:
    for entry in folder.entries:
        if isinstance(entry, TreeFolder):
            yield from _requests(entry)
        else:
            yield entry


def provider_icon(provider: str) -> str:
    return PROVIDER_ICONS.get(provider.lower(), "•")


class RequestTree(Tree["TreeFolder | LoggedRequest"]):
    """Folders show request counts and latency; leaves show model, prompt id and status."""

    COMPONENT_CLASSES = BADGE_CLASSES

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="tree.down", tooltip="Next request"),
        Binding("k", "cursor_up", "Up", show=False, id="tree.up", tooltip="Previous request"),
        Binding("g", "scroll_home", "First", show=False, id="tree.first",
                tooltip="First request"),
        Binding("G", "scroll_end", "Last", show=False, id="tree.last", tooltip="Last request"),
        Binding("h,left", "collapse", "Collapse", show=False, id="tree.collapse",
                tooltip="Collapse, or go to the parent folder"),
        Binding("l,right", "expand", "Expand", show=False, id="tree.expand",
                tooltip="Expand, or go to the first child"),
    ]

    HELP = """\
## Request tree
Requests grouped by their session path. Folders show how many requests they hold and their
latency (first start to last end). Leaves start with the replay state (… queued, ▶ running,
↻ retrying, ✓ done, ✗ failed, ≠ diverged, ⊘ blocked, ◌ not reached by
the replayed agent, ? waiting for a tool result), then **✎** when a pending edit applies,
the provider, prompt id, a non-2xx status and the model; a long label ends with `…`.
**+ added round new**: a round a replayed agent took beyond the recording.
- **↑/↓**, **j/k**: move · **g/G**: first/last · **h/←**: collapse or go to parent ·
  **l/→**: expand · **Enter/Space**: toggle
"""

    class RequestHighlighted(Message):
        def __init__(self, request: LoggedRequest) -> None:
            self.request = request
            super().__init__()

    class Loaded(Message):
        """Every leaf of the session is in the tree (a large one fills in over frames)."""

    class AddedRoundHighlighted(Message):
        """A round an agent replay added beyond the recording (its data is the result)."""

        def __init__(self, result: ReplayResult) -> None:
            self.result = result
            super().__init__()

    def __init__(self, **kwargs: Any) -> None:
        self._loading: Iterator[None] | None = None  # the nodes still to add (`load`)
        self._appending = False  # a node is being appended (`_append`)
        super().__init__("session", **kwargs)
        self.show_root = False
        self.guide_depth = 3
        self._leaves: dict[str, Node] = {}
        self._order: list[str] = []  # request ids in tree order
        self._stale: set[str] = set()  # leaves relabelled when next drawn (`refresh_leaves`)
        self._generation = 0
        self._select_after: str | None = None
        self._added_after: list[Any] | None = None
        self._added: dict[str, Node] = {}
        self.edited: set[str] = set()
        self.states: dict[str, str] = {}
        self._built_width = 0  # the width the tree's lines were last built for

    def on_mount(self) -> None:
        # Labels carry the theme's colours: a new theme relabels every node.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.relabel())

    def _on_resize(self, event: events.Resize) -> None:
        """A change of height alone keeps every built line: only the width shapes them.

        Tree's own handler rebuilds the whole tree on any resize. The replay status below
        the tree appearing or growing changes only its height, and rebuilding a large
        session's lines then froze the screen for tens of milliseconds.
        """
        if event.size.width == self._built_width and self._built_width:
            self._line_cache.grow(event.size.height)
            event.prevent_default()  # (Tree._on_resize would rebuild)
            self.refresh()
        self._built_width = event.size.width

    def _invalidate(self) -> None:
        """A node appended while a session fills in rebuilds only the list of lines
        (`_append`); the chunk it belongs to repaints once."""
        if self._appending:
            self._tree_lines_cached = None
        else:
            super()._invalidate()

    def process_label(self, label: str | Text) -> Text:
        """A one-line label is used as it is (Tree copies every label to cut it at a newline)."""
        if isinstance(label, Text) and "\n" not in label.plain:
            return label
        return super().process_label(label)

    def relabel(self) -> None:
        """Build every label again (after a theme change)."""

        def folders(node: Node) -> None:
            for child in node.children:
                if isinstance(child.data, TreeFolder):
                    child.set_label(self._folder_label(child.data))
                    folders(child)

        folders(self.root)
        for leaf in self._leaves.values():
            if isinstance(leaf.data, LoggedRequest):
                leaf.set_label(self._leaf_label(leaf.data))
        for node in self._added.values():
            node.set_label(self._added_label(node.data))

    def load(self, root: TreeFolder, session_label: str) -> None:
        """Show a session's tree. A large one fills in over a few frames (`LOAD_CHUNK`
        nodes each) so the screen keeps answering; states, edit marks, added rounds and the
        selection asked for meanwhile are applied as their leaves arrive."""
        self.clear()
        self._leaves.clear()
        self._added.clear()
        self._stale.clear()
        self._order = [r.id for r in _requests(root)]
        self.root.set_label(Text(literal(session_label)))
        self.root.data = root
        self.root.expand()
        self._generation += 1
        self._loading = self._adding(self.root, root)
        self._load_chunk(self._generation)

    @property
    def is_loading(self) -> bool:
        """Leaves are still being added (a chunk per frame); not Textual's `loading`."""
        return self._loading is not None

    def _adding(self, parent: Node, folder: TreeFolder) -> Iterator[None]:
        for entry in folder.entries:
            if isinstance(entry, TreeFolder):
                node = self._append(parent, self._folder_label(entry), entry, folder=True)
                yield
                yield from self._adding(node, entry)
            else:
                self._leaves[entry.id] = self._append(parent, self._leaf_label(entry), entry)
                yield

    def _append(self, parent: Node, label: Text, data: TreeFolder | LoggedRequest,
                folder: bool = False) -> Node:
        """Add a node below every line already drawn, keeping those lines drawn.

        Tree marks every drawn line stale for each node added: its line cache is keyed on a
        tree-wide update count and on the update count of every node on the line's path, and
        adding a child raises both. A large session fills in over several chunks, and each
        chunk drew the lines in view again. Nodes are added in tree order, so a new node's
        line comes after every line drawn, and the only drawn lines it changes are those of
        its parent's former last child (its guide turns from └ into ├): those are marked.
        """
        updates, parent_updates = self._updates, parent._updates
        before = parent.children[-1] if parent.children else None
        self._appending = True
        try:
            if folder:
                node = parent.add(label, data=data, expand=True)
            else:
                node = parent.add_leaf(label, data=data)
        finally:
            self._appending = False
        self._updates, parent._updates = updates, parent_updates
        if before is not None:
            before._updates += 1
        return node

    def _load_chunk(self, generation: int) -> None:
        if generation != self._generation or self._loading is None:
            return  # another session was loaded meanwhile
        added = sum(1 for _ in islice(self._loading, LOAD_CHUNK))
        self.refresh(layout=True)
        if self._select_after in self._leaves:
            self.move_cursor(self._leaves[self._select_after])
            self._select_after = None
        if added == LOAD_CHUNK:
            self.call_after_refresh(self._load_chunk, generation)
            return
        self._loading = None
        if self._added_after is not None:
            results, self._added_after = self._added_after, None
            self.set_added(results)
        self.post_message(self.Loaded())

    def _folder_label(self, folder: TreeFolder) -> Text:
        label = Text(literal(folder.name), style="bold")
        label.append(f"  {folder.count}", style=state_style(self, "count"))
        label.append(f" · {duration(folder.latency_s)}", style=state_style(self, "note"))
        return label

    def _leaf_label(self, request: LoggedRequest) -> Text:
        # The replay state comes first so that a narrow terminal never cuts it off.
        label = Text()
        state = self.states.get(request.id)
        if state:
            label.append_text(state_badge(self, state))
        if request.id in self.edited:
            label.append(f"{EDITED_SYMBOL} ", style=state_style(self, "edited"))
        label.append(provider_icon(request.provider) + " ")
        name = request.prompt_id or request.session_path.rsplit("/", 1)[-1] or request.id[:8]
        label.append(literal(name))
        if request.status is not None and not 200 <= request.status < 300:
            label.append(f" {request.status}", style=state_style(self, "error"))
        label.append(f" {literal(request.model)}", style=state_style(self, "note"))
        return label

    def render_label(self, node: Node, base_style: Style, style: Style) -> Text:
        """The label cut to the visible width with an ellipsis: no horizontal scrolling."""
        if isinstance(node.data, LoggedRequest) and node.data.id in self._stale:
            self._relabel(node)  # its state changed while it was off screen
        text = super().render_label(node, base_style, style)
        width = self.scrollable_content_region.width
        if width <= 0:
            return text
        depth, parent = 0, node.parent
        while parent is not None and (parent is not self.root or self.show_root):
            depth += 1
            parent = parent.parent
        room = max(1, width - depth * self.guide_depth)
        if text.cell_len > room:
            text.truncate(room, overflow="ellipsis")
        return text

    def get_label_width(self, node: Node) -> int:
        """The label's width without rendering it: labels are cut to the visible width, so
        the tree never scrolls sideways, and a rebuild must not render every label."""
        return node.label.cell_len if isinstance(node.label, Text) else len(str(node.label))

    def refresh_leaves(self, request_ids: Iterable[str]) -> None:
        """New labels for these leaves: those on screen now, the others when they are next
        drawn (`render_label`), so a replay changing hundreds of states costs only the lines
        in view.

        `TreeNode.set_label` schedules one callback per node; here the labels are replaced
        directly and only the visible lines repainted (the tree's line cache is keyed on
        each node's update count, which is raised for the others so they are drawn anew).
        """
        top, height = self.scroll_offset.y, self.size.height
        width = self.size.width
        for request_id in request_ids:
            node = self._leaves.get(request_id)
            if node is None or not isinstance(node.data, LoggedRequest):
                continue
            if top <= node.line < top + height:
                self._relabel(node)
                self.refresh(Region(0, node.line - top, width, 1))
            else:
                self._stale.add(request_id)
                node._updates += 1

    def _relabel(self, node: Node) -> None:
        if isinstance(node.data, LoggedRequest):
            self._stale.discard(node.data.id)
            node._label = self.process_label(self._leaf_label(node.data))
            node._updates += 1

    def refresh_leaf(self, request_id: str) -> None:
        self.refresh_leaves((request_id,))

    def set_edited(self, ids: set[str]) -> None:
        changed = ids ^ self.edited
        self.edited = set(ids)
        self.refresh_leaves(changed)

    def set_state(self, request_id: str, state: str | None) -> None:
        self.set_states({request_id: state})

    def set_states(self, states: Mapping[str, str | None]) -> None:
        """Several leaves' states (None: no state), repainted once."""
        for request_id, state in states.items():
            if state is None:
                self.states.pop(request_id, None)
            else:
                self.states[request_id] = state
        self.refresh_leaves(states)

    def replace_states(self, states: Mapping[str, str]) -> None:
        """Exactly these states: only the leaves whose state changes are relabelled."""
        changed: dict[str, str | None] = {
            k: v for k, v in states.items() if self.states.get(k) != v}
        changed.update({k: None for k in self.states if k not in states})
        self.set_states(changed)

    def clear_states(self) -> None:
        self.replace_states({})
        self.set_added([])

    def set_added(self, results: list[Any]) -> None:
        """Show the rounds an agent replay added, each right after the one it follows."""
        if self.is_loading:
            self._added_after = results  # placed once the leaves they follow are there
            return
        wanted = {r.request_id: r for r in results}
        for key in [k for k in self._added if k not in wanted]:
            self._added.pop(key).remove()
        for result in results:  # in chain order: each one's predecessor is placed first
            label = self._added_label(result)
            node = self._added.get(result.request_id)
            if node is not None:
                node.data = result
                node.set_label(label)
                continue
            anchor = self._added.get(result.after or "") or self._leaves.get(result.after or "")
            if anchor is None or anchor.parent is None:
                continue
            self._added[result.request_id] = anchor.parent.add_leaf(
                label, data=result, after=anchor
            )

    def _added_label(self, result: Any) -> Text:
        label = state_badge(self, result.status)
        added = state_style(self, "added")
        label.append("+ ", style=added)
        label.append("added round", style="italic")
        label.append(" new", style=added)
        return label

    def select_request(self, request_id: str) -> None:
        node = self._leaves.get(request_id)
        if node is not None:
            self.move_cursor(node)
        elif self.is_loading:
            self._select_after = request_id

    @property
    def current_request(self) -> LoggedRequest | None:
        node = self.cursor_node
        return node.data if node is not None and isinstance(node.data, LoggedRequest) else None

    def request_order(self) -> list[str]:
        """Every request in tree order (also while a large tree is still filling in)."""
        return list(self._order)

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if isinstance(event.node.data, LoggedRequest):
            self.post_message(self.RequestHighlighted(event.node.data))
        elif event.node.data is not None and getattr(event.node.data, "extra", False):
            self.post_message(self.AddedRoundHighlighted(event.node.data))

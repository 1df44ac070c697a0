"""Textual idiom: binding ids and tooltips, theme-coloured badges and diffs, palette commands
listed only when they can run, pending edits as reactive state.

Every key binding has an id (so `[keymap]` in config.toml can rebind it) and a tooltip
(shown when hovering the footer key and in F1 help); rebinding by id works on screens,
widgets and modals alike."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.dom import DOMNode

import tui
from core.demo import demo_store_copy
from core.demo_replay import DEBATE_SESSION, seed_demo_replay
from core.edits import SystemEdit
from core.store import Store
from tui.app import RepriseApp
from tui.config import Config


def tui_classes() -> list[type[DOMNode]]:
    """Every screen, widget and the app defined in the `tui` package."""
    for module in pkgutil.walk_packages(tui.__path__, "tui."):
        if module.name.startswith("tui.commands"):
            continue  # the CLI: no Textual bindings there
        importlib.import_module(module.name)
    found: list[type[DOMNode]] = []
    pending = [DOMNode]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("tui.") and "BINDINGS" in cls.__dict__:
            found.append(cls)
    return found


def own_bindings(cls: type[DOMNode]) -> list[Binding]:
    return [b for b in cls.__dict__["BINDINGS"] if isinstance(b, Binding)]


def test_every_binding_has_an_id_and_a_tooltip() -> None:
    classes = tui_classes()
    assert len(classes) >= 15
    missing = []
    for cls in classes:
        raw = cls.__dict__["BINDINGS"]
        assert all(isinstance(b, Binding) for b in raw), f"{cls.__name__}: a tuple binding"
        for binding in own_bindings(cls):
            if not binding.id or not binding.tooltip:
                missing.append(f"{cls.__name__}: {binding.key} → {binding.action}")
    assert not missing, missing


def test_binding_ids_name_one_thing_each() -> None:
    """An id rebinds every binding that carries it, so one id must mean one action."""
    actions: dict[str, set[str]] = {}
    for cls in tui_classes():
        for binding in own_bindings(cls):
            actions.setdefault(binding.id or "", set()).add(binding.action)
    shared = {bid: acts for bid, acts in actions.items() if len(acts) > 1}
    assert not shared, shared


async def test_the_command_palette_key_has_an_id(demo: Store) -> None:
    """Textual adds its palette key without an id; ours carries one, so `[keymap]` moves it."""
    from textual.command import CommandPalette

    from tests.pilot import until_screen

    app = RepriseApp(demo, Config(keymap={"app.command_palette": "ctrl+k"}))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        palette = [b for _, b in app._bindings if b.action == "command_palette"]
        assert [b.id for b in palette] == ["app.command_palette"]
        await pilot.press("ctrl+k")
        await until_screen(pilot, CommandPalette)


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setattr("core.local_model.local_runtime_available", lambda: False)
    store = Store(demo_store_copy(tmp_path))
    yield store
    store.close()


async def test_keymap_rebinds_screen_and_modal_keys_by_id(demo: Store) -> None:
    """`[keymap]` ids reach a screen binding, a widget binding and a modal's binding."""
    from tui.screens.help import HelpScreen
    from tui.screens.replay_form import ReplayForm
    from tui.screens.replays import ReplaysScreen

    keymap = {"session.replays": "L", "help.close_keys": "z", "replay.form_cancel": "ctrl+g",
              "tree.down": "ctrl+n"}
    app = RepriseApp(demo, Config(keymap=keymap), start_session=DEBATE_SESSION)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tree = app.screen.query_one("RequestTree")
        line = tree.cursor_line
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert tree.cursor_line == line + 1
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, ReplaysScreen)
        await pilot.press("escape")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ReplayForm)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not isinstance(app.screen, ReplayForm)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "Replay the session with the pending edits" in app.screen.text  # tooltips
        await pilot.press("z")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def settled(pilot) -> None:
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def titles(app: RepriseApp) -> set[str]:
    return {command.title for command in app.get_system_commands(app.screen)}


def text_colour(text, offset: int, app: RepriseApp) -> str:
    """The hex colour of `text` (a Rich Text) at `offset`."""
    return text.get_style_at_offset(app.console, offset).color.get_truecolor().hex.lower()


def success_colour(app: RepriseApp) -> str:
    from textual.color import Color

    return Color.parse(app.theme_variables["text-success"]).hex.lower()


async def test_badges_and_diff_colours_follow_the_theme(demo: Store) -> None:
    """A state badge and the diff's inserted words take the theme's colours, also after a
    theme change."""
    from tui.widgets.diff_view import DiffView
    from tui.widgets.request_tree import RequestTree

    seed_demo_replay(demo)
    app = RepriseApp(demo, Config(), start_session=DEBATE_SESSION)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        tree = app.screen.query_one(RequestTree)

        def badge_colour() -> str:
            leaf = next(iter(tree._leaves.values()))
            assert leaf.label.plain.startswith("✓ ")
            return text_colour(leaf.label, 0, app)

        def success() -> str:
            return success_colour(app)

        assert badge_colour() == success()
        before = badge_colour()
        app.theme = "nord"
        await settled(pilot)
        assert badge_colour() == success() != before

        await pilot.press("d")
        await settled(pilot)
        view = app.screen.query_one("#diff-text", DiffView)
        inserted = view._theme.style("inserted")
        assert inserted.color.get_truecolor().hex.lower() == success()
        app.theme = "textual-light"
        await settled(pilot)
        assert view._theme.style("inserted").color.get_truecolor().hex.lower() == success()
        summary = app.screen.query_one("#diff-summary")
        first = summary.get_option_at_index(0).prompt
        assert first.get_style_at_offset(0).foreground.hex.lower() \
            == success()  # the ✓ of a done request, in the new theme


async def test_the_replays_list_recolours_on_a_theme_change(demo: Store) -> None:
    """The replays list is built once it is read; a theme change recolours it in place."""
    from textual.widgets import OptionList

    from tests.pilot import replays_listed

    seed_demo_replay(demo)
    app = RepriseApp(demo, Config(), start_session=DEBATE_SESSION)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        await pilot.press("R")
        await replays_listed(pilot)
        listing = app.screen.query_one(OptionList)

        def status_colour() -> str:
            prompt = listing.get_option_at_index(0).prompt
            assert "done" in prompt.plain
            return text_colour(prompt, prompt.plain.index("done"), app)

        assert status_colour() == success_colour(app)
        before = status_colour()
        app.theme = "nord"
        await settled(pilot)
        assert status_colour() == success_colour(app) != before


async def test_palette_lists_only_what_can_run(demo: Store) -> None:
    app = RepriseApp(demo, Config(), start_session=DEBATE_SESSION)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        offered = titles(app)
        assert {"Replay session", "Edit system prompt", "Replays", "Sessions"} <= offered
        assert not offered & {"Diff", "Cancel replay", "Give a tool result"}
        await pilot.press("escape")
        await settled(pilot)
        assert "Sessions" not in titles(app)  # already there

    seed_demo_replay(demo)
    app = RepriseApp(demo, Config(), start_session=DEBATE_SESSION)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        assert "Diff" in titles(app)
        assert "Cancel replay" not in titles(app)
        await pilot.press("d")
        await settled(pilot)
        assert {"Next change", "Previous change"} <= titles(app)


async def test_pending_edits_are_reactive(demo: Store) -> None:
    """Assigning the screen's edits updates the tree mark, the panel and the status line."""
    from tui.widgets.edits_panel import EditsPanel
    from tui.widgets.request_tree import RequestTree

    app = RepriseApp(demo, Config(), start_session=DEBATE_SESSION)
    async with app.run_test(size=(120, 36)) as pilot:
        await settled(pilot)
        screen = app.screen
        panel = screen.query_one(EditsPanel)
        assert not panel.display
        screen.edits = screen.edits.set_system(
            SystemEdit(target="argument-evaluation", text="Be strict."))
        await pilot.pause()
        assert panel.display and panel.option_count == 1
        tree = screen.query_one(RequestTree)
        marked = [leaf for leaf in tree._leaves.values() if "✎" in leaf.label.plain]
        assert len(marked) == 6
        status = str(screen.query_one("#session-status").render())
        assert "1 pending edit" in status
        panel.focus()
        await pilot.press("X")  # the panel posts Reset; the screen assigns empty edits
        await pilot.pause()
        assert screen.edits.is_empty and not panel.display
        assert not any("✎" in leaf.label.plain for leaf in tree._leaves.values())


async def test_matrix_setup_fits_80_by_24(demo: Store) -> None:
    """Every field of the matrix setup is on the one 80×24 screen, nothing scrolls."""
    from textual.widgets import Button, Input, Select, TextArea

    from tui.screens.matrix_setup import MatrixSetup

    app = RepriseApp(demo, Config(), start_session=DEBATE_SESSION)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("M")
        await settled(pilot)
        screen = app.screen
        assert isinstance(screen, MatrixSetup)
        assert screen.query_one("#matrix-setup-body").max_scroll_y == 0
        assert screen.query_one("#matrix-setup").max_scroll_y == 0
        fields = list(screen.query(TextArea)) + list(screen.query(Input)) + list(
            screen.query(Select)) + list(screen.query(Button))
        assert len(fields) >= 12
        for field in fields:
            region = field.region
            assert region.height >= 1 and region.bottom <= 23 and region.right <= 80, field


def test_replay_label_breaks_between_parts() -> None:
    """`replay done … · 213.1 s · 6 tok/s` wraps between its parts, never inside one."""
    from tui.widgets.replay_status import at_separators

    text = "replay done: 9 done, 0 failed · 213.1\u00a0s · 6\u00a0tok/s"
    assert at_separators(text, 80) == text
    assert at_separators(text, 42).split("\n") == [
        "replay done: 9 done, 0 failed · 213.1\u00a0s", "6\u00a0tok/s"]
    assert at_separators(text, 20).split("\n")[-1].endswith("6\u00a0tok/s")


async def test_a_keymap_id_that_names_no_binding_is_reported(demo: Store, tmp_path: Path) -> None:
    """A misspelt `[keymap]` id is named in one message; the correct one still applies."""
    from tui.navigation import binding_ids

    assert {"session.replay", "nav.down", "help.close", "matrix_setup.start"} <= binding_ids()
    config = tmp_path / "config.toml"
    config.write_text('[keymap]\n"sesion.replay" = "x"\n"sessions.filter" = "f"\n')
    app = RepriseApp(demo.path, config_path=config)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settled(pilot)
        messages = [n.message for n in app._notifications]
        assert any("'sesion.replay'" in m and "F1" in m for m in messages), messages
        assert not any("sessions.filter" in m for m in messages)


def test_every_worker_has_a_description() -> None:
    """Without one, Textual describes a worker by `repr` of its arguments on the UI thread:
    for the diff screen's 520 comparisons that alone froze the screen for ~35 ms per move."""
    import ast

    root = Path(tui.__file__).parent
    missing = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "work"
                    and not any(k.arg == "description" for k in node.keywords)):
                missing.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not missing

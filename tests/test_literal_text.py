"""Imported text is shown literally everywhere: markup, escapes, bidi and invisible controls.

Session names, paths, prompt ids and messages come from files and providers. They pass
through `core.text` in the CLI, the app (lists, trees, titles, notifications) and exports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.content import Content

from core.store import Store
from core.text import dumps_json, escape_markup, literal
from tests.test_app import SIZE, make_request, settled
from tui.app import RepriseApp
from tui.cli import cli
from tui.widgets.request_tree import RequestTree
from tui.widgets.session_list import SessionList

RLO = "\u202e"  # right-to-left override: "abc" + RLO + "txt.exe" reads as "abcexe.txt"
HIDDEN = "\u200b\u2066\ufeff\U000e0041"  # zero-width space, isolate, BOM, tag "A"
BIDI_NAME = f"invoice{RLO}fdp.exe{HIDDEN}"
MARKUP_NAMES = ["[link=https://x.io]docs[/link]", "[/draft] job", "[prod] checkout"]


def test_literal_shows_every_control_visibly() -> None:
    shown = literal(f"a\x1b[31mb\r\x9b{BIDI_NAME}\u200d")
    assert "␛[31m" in shown and "␍" in shown and "\\x9b" in shown
    assert "\\u202e" in shown and "\\u200b" in shown and "\\U000e0041" in shown
    assert shown.endswith("\u200d")  # joiners that shape emoji and scripts are kept
    assert all(ch not in shown for ch in f"\x1b\r\x9b{RLO}{HIDDEN}")
    assert literal(literal(BIDI_NAME)) == literal(BIDI_NAME)  # idempotent
    assert literal(None) == "" and literal("x\ty", expand_tabs=True) == "x    y"
    assert RLO not in dumps_json({"name": BIDI_NAME}) and '"\\u202e' in dumps_json(RLO)


@pytest.mark.parametrize("text", [*MARKUP_NAMES, "a \\[b] \\\\[i]c", "[$accent]x", "[[b]]"])
def test_escape_markup_round_trips_through_textual_markup(text: str) -> None:
    assert Content.from_markup(escape_markup(text)).plain == text


def hostile_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "hostile.db")
    requests = [make_request("s-bidi", BIDI_NAME, 0, f"/step{RLO}1", "p",
                             system=f"Reply {RLO}now{HIDDEN}.", answer=f"ok{RLO}done")]
    for index, name in enumerate(MARKUP_NAMES, start=1):
        requests.append(make_request(f"s-markup-{index}", name, index, "/a", f"[b]{index}[/b"))
    store.upsert_requests(requests)
    return store


def test_cli_sessions_and_show_print_controls_escaped(tmp_path: Path) -> None:
    hostile_store(tmp_path).close()
    db = str(tmp_path / "hostile.db")
    for args in (["sessions"], ["show", "s-bidi-r0"], ["tree", "s-bidi"]):
        result = CliRunner().invoke(cli, ["--db", db, *args])
        assert result.exit_code == 0, result.output
        assert RLO not in result.stdout and "\u200b" not in result.stdout
        assert "\\u202e" in result.stdout
    shown = CliRunner().invoke(cli, ["--db", db, "sessions"]).stdout
    assert "[prod] checkout" in shown and "[/draft] job" in shown


@pytest.mark.parametrize("index", [1, 2, 3])
async def test_sessions_named_with_markup_open_and_show_literally(tmp_path: Path,
                                                                  index: int) -> None:
    store = hostile_store(tmp_path)
    name = MARKUP_NAMES[index - 1]
    app = RepriseApp(store, start_session=f"s-markup-{index}")
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert app.screen.sub_title == name
        tree = app.screen.query_one(RequestTree)
        assert name in tree.root.label.plain
        assert tree.border_title is not None and name in Content.from_markup(
            tree.border_title).plain
        # Saving an edit for a prompt id made of markup shows its notification literally.
        await pilot.press("j", "e", *" Be brief.", "ctrl+s")
        await settled(pilot)
        [edit] = app.screen.edits.system
        assert edit.target == f"[b]{index}[/b"
        assert any(f"[b]{index}[/b" in n.message for n in app._notifications)
    store.close()


async def test_app_shows_bidi_and_invisible_controls_escaped(tmp_path: Path) -> None:
    store = hostile_store(tmp_path)
    app = RepriseApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        listing = app.screen.query_one(SessionList)
        rows = "\n".join(listing.render_line(y).text for y in range(listing.size.height))
        assert "invoice\\u202efdp.exe\\u200b" in rows and RLO not in rows
        app.open_session("s-bidi")
        await settled(pilot)
        screen = app.screen
        assert RLO not in screen.sub_title and "\\u202e" in screen.sub_title
        tree = screen.query_one(RequestTree)
        labels = [tree.root.label.plain, *(n.label.plain for n in tree.root.children)]
        assert all(RLO not in label for label in labels)
        assert any("step\\u202e1" in label for label in labels)
        await pilot.press("G")
        await pilot.pause()
        shown = " ".join(block.text for block in screen.query(".message"))
        assert "Reply \\u202enow\\u200b" in shown and "ok\\u202edone" in shown
        assert RLO not in shown
    store.close()


def test_snapshot_of_a_session_with_bidi_controls(snap_compare, tmp_path: Path) -> None:
    """The tree, the title and the messages of a hostile session, as the user sees them."""
    store = hostile_store(tmp_path)
    assert snap_compare(RepriseApp(store, start_session="s-bidi"), press=["G"],
                        terminal_size=SIZE)
    store.close()

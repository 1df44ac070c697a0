"""The session path tree follows Helicone's web UI algorithm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.models import LoggedRequest
from core.store import Store
from core.tree import TreeFolder, build_tree
from tests.conftest import DEBATE_SESSION

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def req(request_id: str, path: str | None, start_s: float, end_s: float) -> LoggedRequest:
    return LoggedRequest(
        id=request_id,
        created_at=T0 + timedelta(seconds=start_s),
        response_at=T0 + timedelta(seconds=end_s),
        session_path=path if path is not None else "/",
    )


def shape(folder: TreeFolder) -> list:
    return [(e.name, shape(e)) if isinstance(e, TreeFolder) else e.id for e in folder.entries]


def test_fixture_tree_matches_the_contract(fixture_store: Store) -> None:
    root = build_tree(fixture_store.session_requests(DEBATE_SESSION))
    assert shape(root) == [
        (
            "debate",
            [
                (
                    "climate-change",
                    [
                        (
                            "turn-1",
                            [
                                "a1e7c3d2-5f64-4b8a-9c0d-1e2f3a4b5c61",
                                "b2f8d4e3-6a75-4c9b-8d1e-2f3a4b5c6d72",
                                ("fact-check", ["c3a9e5f4-7b86-4dac-9e2f-3a4b5c6d7e83"]),
                            ],
                        ),
                        ("turn-2", ["d4b0f6a5-8c97-4ebd-8f3a-4b5c6d7e8f94"]),
                    ],
                ),
            ],
        ),
    ]
    turn1 = root.children[0].children[0].children[0]
    assert turn1.latency_s == pytest.approx(7.295)
    assert root.latency_s == pytest.approx(10.349)
    assert root.count == 4 and turn1.count == 3


def test_same_path_siblings_are_all_kept_in_start_order() -> None:
    root = build_tree([req("b", "/review/security", 2, 3), req("a", "/review/security", 1, 5)])
    folder = root.children[0].children[0]
    assert [r.id for r in folder.requests] == ["a", "b"]
    assert folder.latency_s == 4


def test_missing_and_unnormalized_paths() -> None:
    root = build_tree(
        [
            req("root", None, 0, 1),
            req("x", "a/b", 1, 2),
            req("y", "/a/b", 2, 3),
            req("z", "//a//c/", 3, 4),
        ]
    )
    assert shape(root) == ["root", ("a", [("b", ["x", "y"]), ("c", ["z"])])]


def test_folders_ordered_by_first_appearance() -> None:
    root = build_tree([req("late", "/z", 5, 6), req("early", "/b", 1, 2), req("mid", "/a", 3, 4)])
    assert [c.name for c in root.children] == ["b", "a", "z"]
    assert root.to_json()["children"][0] == {
        "name": "b",
        "path": "/b",
        "requests": ["early"],
        "children": [],
    }


def test_empty_tree() -> None:
    root = build_tree([])
    assert root.count == 0 and root.latency_s == 0

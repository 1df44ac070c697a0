"""Shared fixtures: real SQLite stores on disk, loaded from Helicone fixture files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.sources.files import import_files
from core.store import Store

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "helicone"
DEBATE_SESSION = "5b0c2f1e-8a3d-4c57-9e0b-2f6a1d9c7e41"


@pytest.fixture(autouse=True)
def fresh_local_model_check():
    """`local_available` is checked once per process; a test that patches the runtime's
    presence must not leave its answer to the tests after it."""
    from core.targets import local_available

    local_available.cache_clear()
    yield
    local_available.cache_clear()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "reprise.db") as opened:
        yield opened


@pytest.fixture
def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


@pytest.fixture
def fixture_store(store: Store, fixture_files: list[Path]) -> Store:
    counts = import_files(store, fixture_files)
    assert not counts.errors, counts.errors
    return store


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())

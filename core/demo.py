"""The bundled demo store, opened as a fresh copy so a user's own store is never touched."""

from __future__ import annotations

import shutil
import tempfile
from importlib.resources import files
from pathlib import Path


def packaged_demo_db() -> Path:
    return Path(str(files("core") / "data" / "demo.db"))


def demo_store_copy(directory: Path | None = None) -> Path:
    """Copy the demo store into a new private temp directory and return the copy's path."""
    source = packaged_demo_db()
    if not source.exists():
        raise FileNotFoundError(
            f"the demo store is missing from the installation ({source});"
            " run `python scripts/make_demo_store.py`"
        )
    target_dir = directory or Path(tempfile.mkdtemp(prefix="reprise-demo-"))
    target = target_dir / "demo.db"
    shutil.copyfile(source, target)
    target.chmod(0o600)
    return target

"""`reprise demo` runs the app on a temporary copy of the demo store and removes it on exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tui.commands.app import demo


def test_demo_copy_is_removed_on_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def fake_run(self) -> None:
        path = Path(self._store_path)
        assert path.exists() and path.name == "demo.db"
        seen.append(path)

    monkeypatch.setattr("tui.app.RepriseApp.run", fake_run)
    result = CliRunner().invoke(demo, [])
    assert result.exit_code == 0, result.output
    (path,) = seen
    assert not path.exists() and not path.parent.exists()


def test_demo_copy_is_removed_when_the_app_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def crash(self) -> None:
        seen.append(Path(self._store_path))
        raise RuntimeError("boom")

    monkeypatch.setattr("tui.app.RepriseApp.run", crash)
    result = CliRunner().invoke(demo, [])
    assert result.exit_code != 0
    assert not seen[0].parent.exists()


def test_demo_copy_is_removed_when_the_terminal_closes(tmp_path: Path) -> None:
    """SIGHUP (the terminal window closed) while the demo runs still removes the copy."""
    import signal
    import subprocess
    import sys

    script = (
        "import os, signal, sys, time\n"
        "from pathlib import Path\n"
        "import tui.app\n"
        "def hang(self):\n"
        "    print(Path(self._store_path).parent, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGHUP)\n"
        "    time.sleep(5)\n"
        "tui.app.RepriseApp.run = hang\n"
        "from tui.cli import main\n"
        "sys.argv = ['reprise', 'demo']\n"
        "main()\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=root, env={**__import__("os").environ,
                                                     "PYTHONPATH": str(root)})
    assert done.returncode == -signal.SIGHUP, done.stderr
    directory = Path(done.stdout.strip())
    assert directory.name.startswith("reprise-demo-")
    assert not directory.exists()

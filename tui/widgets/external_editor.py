"""Edit text in the user's `$EDITOR` with the app suspended."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from textual.app import App


def edit_in_editor(app: App, text: str) -> str | None:
    """The edited text, or None when the editor failed; raises when suspending is impossible."""
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, name = tempfile.mkstemp(prefix="reprise-", suffix=".md")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        with app.suspend():
            code = subprocess.call([*shlex.split(command), str(path)])
        if code != 0:
            app.notify(f"{command} exited with {code}; text unchanged", severity="warning")
            return None
        return without_added_newline(text, path.read_text(encoding="utf-8"))
    finally:
        path.unlink(missing_ok=True)


def without_added_newline(before: str, after: str) -> str:
    """vi and most editors end the file with a newline; the prompt did not have one."""
    if not before.endswith("\n") and after.endswith("\n"):
        after = after[:-2] if after.endswith("\r\n") else after[:-1]
    return after

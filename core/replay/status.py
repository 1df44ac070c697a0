"""A replayed request's status and the groups every count uses, in one place.

The store, the report, the matrix, the engine, the CLI and the app all count with these
groups, so a replay's failures read the same everywhere. Plain data, no imports: the store
loads it on the app's startup path.
"""

from __future__ import annotations

from typing import Literal

RequestStatus = Literal[
    "queued",
    "running",
    "retrying",
    "done",
    "failed",
    "diverged",
    "blocked",
    "skipped",
    "cancelled",
    "not_reached",  # the replayed agent finished before this recorded round
    "needs_tool_result",  # waits for a tool result the person supplies (the `stop` rule)
]

# Status groups: the one definition every count uses (store, report, matrix, engine, UI).
# A replayed answer exists (diverged: sent and answered, but its recorded tool results no
# longer match the new conversation).
SUCCEEDED: frozenset[str] = frozenset({"done", "diverged"})
# Sent (or due) and no answer: sending failed, or a request it depends on failed. A request
# cancelled in flight did not fail: it is neither, and a resume sends it again.
FAILED: frozenset[str] = frozenset({"failed", "blocked"})
# The request is settled for this run: nothing more will happen to it.
# not_reached: a recorded agent round the replayed model never needed (it answered earlier).
FINAL: frozenset[str] = SUCCEEDED | FAILED | {"skipped", "cancelled", "not_reached"}
# What a resumed replay keeps; cancelled requests are sent again.
KEPT_ON_RESUME: frozenset[str] = FINAL - {"cancelled"}

"""Keep the garbage collector's passes off the frames: settle long-lived objects, pause during runs.

A full collection walks every object the collector tracks. With a 520-request session open
(its requests, tree, results, Textual's caches) that is 150k objects and 100–250 ms with the
event loop frozen: the longest stalls the app had, several per replay. What is built to live
as long as its screen (modules after startup, an opened session, a finished replay's results)
is moved out of the collector's reach once built (`gc.freeze`); freed objects are still
reclaimed by reference counting, only cycles among them wait. When a session screen closes,
everything is handed back (`gc.unfreeze`) so those cycles are collected too.

While a replay or a matrix runs, the collector is paused (`paused`). The engine allocates
fast (its plan, HTTP exchanges, results); collections it triggers, in its own thread or the
UI's, walked 30–70k objects, 40–60 ms each, several per replay, and the UI thread waited for
them either way. Replays make little cyclic garbage (about 2,400 objects for two replays of
the 520-request demo session, app included); when the last run ends, what it left is settled
and collected with the session.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_runs = 0  # replays and matrices running now


def settle() -> None:
    """What exists now lives long: later full collections skip it."""
    gc.freeze()


def release() -> None:
    """Hand the frozen objects back to the collector (a screen that owned many closed)."""
    gc.unfreeze()


@contextmanager
def paused() -> Iterator[None]:
    """No collections while a replay or a matrix runs (in its worker thread)."""
    global _runs
    with _lock:
        _runs += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.freeze()
                gc.enable()

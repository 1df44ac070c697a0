"""Keep the garbage collector's full passes off the long-lived heap, so they never stall a frame.

A full collection walks every object the collector tracks. With a 520-request session open
(its requests, tree, results, Textual's caches) that is 150k objects and 100–250 ms with the
event loop frozen: the longest stalls the app had, several per replay. What is built to live
as long as its screen (modules after startup, an opened session, a finished replay's results)
is moved out of the collector's reach once built (`gc.freeze`); freed objects are still
reclaimed by reference counting, only cycles among them wait. When a session screen closes,
everything is handed back (`gc.unfreeze`) so those cycles are collected too.

While a replay or a matrix runs, each progress batch settles the heap again (`gc.freeze` only
moves the collector's lists, whatever their length): the engine's plan, its HTTP client and
the results are otherwise walked by every full pass, 40–60 ms each, several per replay, in
whichever thread triggers it, and the UI thread waits for either. Replays make little cyclic
garbage (about 2,400 objects for two replays of the 520-request demo session), and what they
make is collected when the session closes.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """What exists now lives long: later full collections skip it."""
    gc.freeze()


def release() -> None:
    """Hand the frozen objects back to the collector (a screen that owned many closed)."""
    gc.unfreeze()

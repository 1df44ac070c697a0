"""`python -m core.replay`: the replay process (`core.replay.child`), at a lower priority.

A replay or a matrix is background work and the screen that follows it is interactive: when
the cores are busy (the engine, a local provider, the app), the app's frames come first. With
idle cores the priority changes nothing. Lowered before the engine's imports, which run
while the person reads the replay form.
"""

import contextlib
import os
import sys

BACKGROUND_NICE = 10

with contextlib.suppress(AttributeError, OSError):  # no nice() here, or not allowed
    os.nice(BACKGROUND_NICE)

from core.replay.child import main  # noqa: E402  (after the priority is lowered)

sys.exit(main())

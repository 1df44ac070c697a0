"""Waiting for the app the way a person would: until what they look for is on screen."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot


async def replays_listed(pilot: Pilot, timeout: float = 30.0) -> None:
    """Until the replays list (opened with `R`) shows the replays it read in its worker."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not getattr(pilot.app.screen, "listed", False):
        if loop.time() > deadline:
            raise AssertionError(f"the replays list was not shown within {timeout:.0f} s")
        await pilot.pause(0.02)
    await pilot.pause()


async def replay_form_open(pilot: Pilot, timeout: float = 30.0) -> None:
    """Press `r` and wait until the replay form is the screen a key reaches."""
    from tui.screens.replay_form import ReplayForm

    await pilot.press("r")
    await until_screen(pilot, ReplayForm, timeout)


async def until_screen(pilot: Pilot, screen_type: type, timeout: float = 30.0) -> None:
    """Until a screen of `screen_type` is the one a key reaches."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not isinstance(pilot.app.screen, screen_type):
        if loop.time() > deadline:
            raise AssertionError(f"{screen_type.__name__} did not open within {timeout:.0f} s")
        await pilot.pause(0.02)
    await pilot.pause()

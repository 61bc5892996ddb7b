"""Waiting for an `asyncio.Event` with a time limit, without ever losing a cancellation.

On Python 3.11, `asyncio.wait_for(event.wait(), t)` swallows a cancellation that arrives in the same
loop turn as the event being set: it returns as if the event had fired, the task goes on looping,
and whoever cancelled it (a shutdown) waits for it forever. `asyncio.timeout` counts cancellation
requests and re-raises any that is not its own.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """True when `event` was set within `seconds`, False when the time ran out."""
    try:
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()
    except TimeoutError:
        return False
    return True

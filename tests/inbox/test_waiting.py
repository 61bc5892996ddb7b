"""`wait_event`: a cancellation that arrives with the event is never swallowed (a shutdown that
cancels a worker must see it end), unlike `asyncio.wait_for` on Python 3.11."""

from __future__ import annotations

import asyncio

import pytest

from inbox.waiting import wait_event


async def test_set_and_timeout() -> None:
    ev = asyncio.Event()
    assert await wait_event(ev, 0.01) is False
    ev.set()
    assert await wait_event(ev, 0.01) is True


async def test_a_cancellation_arriving_with_the_event_is_not_swallowed() -> None:
    ev = asyncio.Event()
    for _ in range(20):
        ev.clear()
        task = asyncio.create_task(wait_event(ev, 10))
        await asyncio.sleep(0)  # the task now waits on the event
        ev.set()  # in the same loop turn: the event fires and a shutdown cancels
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_cancellation_arriving_with_the_timeout_is_not_swallowed() -> None:
    for _ in range(20):
        task = asyncio.create_task(wait_event(asyncio.Event(), 0.001))
        await asyncio.sleep(0.001)
        task.cancel()
        try:
            result = await task
        except asyncio.CancelledError:
            continue
        pytest.fail(f"cancellation lost (wait_event returned {result})")

"""Flushes the channel webhook counters (inbox/health.py) every few seconds, and once more on the way
out. Writes nothing itself: `health.flush` saves through inbox/actions/health.py."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from inbox.health import FLUSH_SECONDS, flush
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)


async def health_worker(rt: Runtime) -> None:
    """Flush the counters every few seconds (and once more on the way out)."""
    wake = rt.wakeup("channel-health")
    try:
        while True:
            try:
                await flush(rt)
            except Exception as exc:
                log.warning("channel health not saved (kept for the next try): %s", type(exc).__name__)
            wake.clear()
            await wait_event(wake, FLUSH_SECONDS)
    except asyncio.CancelledError:
        try:
            await flush(rt)
        except Exception:
            pass  # stopping: the storage is likely what went away
        raise

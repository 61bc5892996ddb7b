"""Imports the modules that register background workers with `inbox.runtime.worker`."""

from __future__ import annotations

import bot.responder  # noqa: F401  (the `bot` job handler)
import inbox.jobs  # noqa: F401
import inbox.outbox  # noqa: F401  (the outbox sender)
import inbox.realtime.eventlog  # noqa: F401  (events retention)
import inbox.routing  # noqa: F401  (auto-assignment, SLA, offline requeue; the `snooze` job handler)

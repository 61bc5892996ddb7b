"""Imports the modules that register background workers with `inbox.runtime.worker`."""

from __future__ import annotations

import bot.responder  # noqa: F401  (the `bot` job handler)
import inbox.jobs
import inbox.outbox
import inbox.realtime.eventlog
import inbox.routing  # noqa: F401  (auto-assignment, SLA, offline requeue; the `snooze` job handler)

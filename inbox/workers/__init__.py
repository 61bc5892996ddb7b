"""Background work inside `inbox serve`: loops that claim rows with leases and call actions.

outbox (replies out through the adapters), jobs (deferred work: bot turns, snooze wake-ups), routing
(auto-assignment, SLA, offline requeue, live queue figures), retention (the event log's tail),
presence (which agents have a live socket) and hooks (outgoing webhooks, read from the event log).
Workers read, lease and clean up their own rows (outbox and job leases, the event log's tail, socket
presence) and leave every other write to `inbox.actions` (the bot's to `bot.actions`). Which workers
run is decided by the composition (inbox/app.py), never by importing this package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inbox.runtime import Runtime

Worker = Callable[["Runtime"], Awaitable[None]]

"""Prometheus metrics: one registry per Runtime (so one per `inbox serve` process, and tests can run
several apps side by side), the instruments the product records into, and the figures read from the
database at scrape time. Owns metric names, labels and buckets; must not write anything, nor label by
tenant (cardinality): provider and outcome are the only labels.

Multi-process: each process exposes its own `/metrics` and Prometheus scrapes each one (sum with
`sum without(instance)`). prometheus-client's multiprocess mode was not chosen: it needs a shared
directory of mmap files cleaned on every restart and cannot serve the scrape-time database gauges.
"""

from __future__ import annotations

import os
import re
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from sqlalchemy import case, func, select, type_coerce

from inbox import models as m
from inbox.metrics_loop import LoopCounter, LoopHistogram

if TYPE_CHECKING:
    from collections.abc import Sequence

    from channels.base import InboundEvent
    from inbox.events import EventRecord
    from inbox.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# What a webhook delivery came to. `stored`: something new was written; `duplicate`: nothing new came
# of it (a repeated delivery, a status that moved nothing); `ignored`: nothing in it to store;
# `rejected`: a 4xx; `unavailable`: a 503 (the provider retries); `error`: a 500 (a bug).
WEBHOOK_OUTCOMES = ("stored", "duplicate", "ignored", "rejected", "unavailable", "error")
SEND_OUTCOMES = ("sent", "failed", "retry")
# Outgoing webhooks (issue 19 item 4): `delivered` (a 2xx), `failed` (anything else; retried).
HOOK_OUTCOMES = ("delivered", "failed")
# Latency buckets in seconds: ingest commits take milliseconds, bot turns and waits much longer.
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

# The records published while a webhook batch is stored (see `IngestBatcher`): set by the batcher in
# its own task, appended to by `Runtime.publish`, so that the batcher can tell which of its deliveries
# stored something without asking the ingest code.
collecting: ContextVar[list[EventRecord] | None] = ContextVar("inbox_metrics_collecting", default=None)

# A message frame's provider id, as Python (`"k":"v"`) and PostgreSQL (`"k" : "v"`) compose it.
_PROVIDER_ID = re.compile(r'"provider_message_id"\s*:\s*"((?:[^"\\]|\\.)*)"')
_KEY = '"provider_message_id"'


def _provider_id(frame: str) -> str | None:
    """The provider id in a message frame, found with `str.rfind` (a regex search over a 700-byte frame
    took 6 us, more than the rest of the metrics of a webhook; the key is near the end, after the
    text, and occurs once: inside a JSON string its quotes would be escaped); the regex only for an id
    with an escape in it."""
    at = frame.rfind(_KEY)
    if at < 0:
        return None
    after = at + len(_KEY)
    start = frame.find('"', after)
    if start < 0 or frame[after:start].strip() != ":":  # null, or a quote further on
        return None
    end = frame.find('"', start + 1)
    value = frame[start + 1 : end]
    if end < 0 or "\\" in value:
        hit = _PROVIDER_ID.search(frame, at)
        return hit.group(1) if hit is not None else None
    return value


def provider_ids(records: Sequence[EventRecord]) -> set[str]:
    """The provider message ids that the message events among `records` are about."""
    found: set[str] = set()
    for rec in records:
        if rec.type.startswith("message.") and (pid := _provider_id(rec.frame)) is not None:
            found.add(pid)
    return found


def stored_any(events: Sequence[InboundEvent], new: set[str]) -> bool:
    """Whether a delivery's events (messages, statuses, deletions) name a provider id in `new`."""
    for ev in events:
        pid = getattr(ev, "provider_message_id", None)
        if pid and pid in new:
            return True
    return False


class Metrics:
    """The instruments of one process. Series for every (provider, outcome) are made up front: the
    webhook hot path then costs a dict lookup and an increment, and every series exists from the
    first scrape (a rate over a series that appears late misses its first increments)."""

    def __init__(self, providers: Sequence[str], *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = r = CollectorRegistry(auto_describe=True)
        # The two instruments of every webhook: plain numbers, collected at scrape (metrics_loop.py).
        self.webhooks = LoopCounter(
            "inbox_webhooks",
            "Webhook deliveries by provider and outcome",
            ["provider", "outcome"],
            ((p, o) for p in providers for o in WEBHOOK_OUTCOMES),
        )
        self.ingest_seconds = LoopHistogram(
            "inbox_ingest_seconds",
            "A webhook delivery from its first byte to its answer (commit included)",
            _FAST,
        )
        r.register(self.webhooks)
        r.register(self.ingest_seconds)
        # Which process answered: `inbox serve --workers N` shares one port, so a scrape reaches one
        # of them (README, Operations). A pid only: nothing a client could use.
        Info("inbox_process", "The server process that answered this scrape", registry=r).info(
            {"pid": str(os.getpid())}
        )
        self.sockets = Gauge("inbox_sockets_open", "Websockets open in this process", registry=r)
        self.events = Counter(
            "inbox_events_published", "Realtime events published after commit by this process", registry=r
        )
        self.outbox = Gauge(
            "inbox_outbox_rows", "Outbox rows by state (database, all processes)", ["state"], registry=r
        )
        self.outbox_oldest = Gauge(
            "inbox_outbox_oldest_queued_seconds",
            "Age of the oldest outbox row not yet sent (database; 0 when empty)",
            registry=r,
        )
        sends = Counter("inbox_send_attempts", "Provider send attempts by outcome", ["outcome"], registry=r)
        self.sends = {o: sends.labels(o) for o in SEND_OUTCOMES}
        self.bot_turns = Counter("inbox_bot_turns", "Bot turns by outcome", ["outcome"], registry=r)
        self.bot_seconds = Histogram(
            "inbox_bot_turn_seconds", "The model's answer time per bot turn", buckets=_SLOW, registry=r
        )
        self.routing_wait = Histogram(
            "inbox_routing_wait_seconds",
            "How long a conversation waited in the queue before it was assigned automatically",
            buckets=_SLOW,
            registry=r,
        )
        # Automation runs as decided (sent, skipped, cancelled, failed): inbox/automations/execute.py.
        self.automation_runs = Counter(
            "inbox_automation_runs", "Automation runs by outcome", ["outcome"], registry=r
        )

        hooks = Counter(
            "inbox_webhook_deliveries", "Outgoing webhook attempts by outcome", ["outcome"], registry=r
        )
        self.hooks = {o: hooks.labels(o) for o in HOOK_OUTCOMES}

    # --- recording (all no-ops when metrics are off) ---------------------------------------------

    def webhook(self, provider: str, outcome: str, started: float) -> None:
        if self.enabled:
            self.webhooks.values[(provider, outcome)] += 1
            self.ingest_seconds.observe(time.perf_counter() - started)

    def published(self, n: int) -> None:
        if self.enabled:
            self.events.inc(n)

    def send(self, outcome: str) -> None:
        if self.enabled:
            self.sends[outcome].inc()

    def hook(self, outcome: str) -> None:
        if self.enabled:
            self.hooks[outcome].inc()

    def automation_run(self, outcome: str) -> None:
        if self.enabled:
            self.automation_runs.labels(outcome).inc()

    def bot_turn(self, outcome: str, latency_ms: int | None) -> None:
        if self.enabled:
            self.bot_turns.labels(outcome).inc()
            if latency_ms is not None:
                self.bot_seconds.observe(latency_ms / 1000)

    def routed(self, waits: Sequence[float]) -> None:
        if self.enabled:
            for w in waits:
                self.routing_wait.observe(max(w, 0.0))

    # --- the scrape ------------------------------------------------------------------------------

    async def scrape(self, rt: Runtime) -> bytes:
        """The text exposition, after reading what lives in the database: one aggregate over the
        outbox, which holds only the messages not yet sent (rows are deleted once settled)."""
        now = m.utcnow()
        ob = m.outbox.c
        sending = ob.locked_until.is_not(None) & (ob.locked_until > now)
        q = select(
            func.count(),
            func.coalesce(func.sum(case((sending, 1), else_=0)), 0),
            func.coalesce(func.sum(case((~sending & (ob.attempts > 0), 1), else_=0)), 0),
            type_coerce(func.min(ob.created_at), m.UTCDateTime()),
        )
        async with rt.engine.connect() as conn:
            total, in_flight, retrying, oldest = (await conn.execute(q)).one()
        self.outbox.labels("sending").set(in_flight)
        self.outbox.labels("retrying").set(retrying)
        self.outbox.labels("queued").set(total - in_flight - retrying)
        self.outbox_oldest.set((now - oldest).total_seconds() if oldest is not None else 0.0)
        self.sockets.set(rt.hub.socket_count())
        return generate_latest(self.registry)

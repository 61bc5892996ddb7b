"""How big a bench run is: the default run (under 4 minutes), `--quick` (under 40 s), and a tiny
one for the smoke test (INBOX_BENCH_SCALE=tiny), which checks the plumbing, not the figures.
`--search` is a run of its own (minutes: seeding 1,000,000 messages is most of it)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    connections: int = 32  # closed-loop HTTP connections, as PERFORMANCE.md measured
    warmup_seconds: float = 1.0
    http_seconds: float = 6.0
    ingest_seconds: float = 10.0
    # Upper bound on timed ingest requests per second of the run (requests are built beforehand).
    ingest_cap_per_second: int = 8000
    known_contacts: int = 2000
    e2e_seconds: float = 6.0
    e2e_rates: tuple[int, ...] = (200, 500)
    e2e_supervisors: int = 10
    e2e_agents: int = 90
    e2e_conversations_per_agent: int = 5
    sockets: tuple[int, int] = (1000, 5000)
    socket_processes: int = 2
    fanout_repeats: int = 3
    settle_seconds: float = 1.0  # pause before reading memory, and for late deliveries
    outbound_replies: int = 1000
    # `--search`: messages seeded per database, and timed rounds of the query mix per role.
    search_rows_postgresql: int = 1_000_000
    search_rows_sqlite: int = 200_000
    search_rounds: int = 25
    due_reminders: int = 10_000  # `--only automations`
    # The growth phase (`--only growth`): a tenant seeded with this much beside the bench's.
    growth_conversations: int = 50_000
    growth_messages: int = 1_000_000
    growth_replay: int = 10_000  # events a reconnecting socket is behind
    growth_list_requests: int = 200


DEFAULT = Profile("default")
QUICK = Profile(
    "quick",
    warmup_seconds=0.5,
    http_seconds=2.0,
    ingest_seconds=2.5,
    known_contacts=360,
    e2e_seconds=2.0,
    e2e_conversations_per_agent=4,
    sockets=(500, 1500),
    fanout_repeats=2,
    settle_seconds=0.3,
    outbound_replies=300,
    search_rows_postgresql=100_000,
    search_rows_sqlite=40_000,
    search_rounds=10,
    due_reminders=2000,
    growth_conversations=10_000,
    growth_messages=200_000,
)
TINY = Profile(
    "tiny",
    connections=8,
    warmup_seconds=0.2,
    http_seconds=0.5,
    ingest_seconds=0.5,
    # Above what SQLite reaches now (a tiny run that outran 2,000/s noted the requests ran out).
    ingest_cap_per_second=10_000,
    known_contacts=20,
    e2e_seconds=0.3,
    e2e_supervisors=2,
    e2e_agents=4,
    e2e_conversations_per_agent=2,
    sockets=(5, 10),
    socket_processes=1,
    fanout_repeats=1,
    settle_seconds=0.1,
    outbound_replies=10,
    search_rows_postgresql=3_000,
    search_rows_sqlite=2_000,
    search_rounds=1,
    due_reminders=30,
    growth_conversations=50,
    growth_messages=500,
    growth_replay=100,
    growth_list_requests=5,
)


def pick(quick: bool) -> Profile:
    if os.environ.get("INBOX_BENCH_SCALE") == "tiny":
        return TINY
    return QUICK if quick else DEFAULT

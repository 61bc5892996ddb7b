"""Webhooks in: normalized events -> contacts, conversations, messages, exactly once.

The one write path for inbound traffic, shared by every provider:
- plan.py        the rules, pure (how a conversation opens, a message row, a snoozed one waking)
- statements.py  the shared lookups and ON CONFLICT inserts, built once
- batch.py       `store`: a batch of deliveries, each down the path that fits it
- embedded.py    customer messages on SQLite's raw connection, committed in one thread hop (its hot path)
- sqlite.py      customer messages set-based, in portable statements (where embedded.py cannot run)
- postgresql.py  customer messages in one statement, one round trip (PostgreSQL's hot path)
- single.py      one delivery at a time: statuses, unsends, echoes, and what a batch leaves over
- statuses.py    delivery statuses, forward only
Events, bot turns and routing happen only for rows actually created. No network calls here.
"""

from __future__ import annotations

from inbox.actions.ingest.batch import store
from inbox.actions.ingest.single import ingest

__all__ = ["ingest", "store"]

"""SQLite's full-text index of messages, fed after commit in batches (migration 0016).

Owns `messages_fts` insertions and the high-water mark `search_indexed`: the messages with an id
above the mark are committed but not yet searchable; `index_pending` adds up to `CHUNK` of them and
moves the mark in one transaction, so a crash indexes nothing twice and loses nothing. Taking
SQLite's one write lock (BEGIN IMMEDIATE) is the claim: several processes can run this, no lease
is needed. It runs on the kept writer (inbox/sqlite_raw.py), taking turns with the webhook batches,
which no longer pay for the index: a trigram FTS5 insertion costs more the larger the index is
(docs/benchmark.md, "Growth"), and many messages in one transaction write one segment instead of
one each. Deletions and cleared texts of indexed messages are still taken out by migration 0016's
triggers, in the writing transaction.

Search therefore lags the messages by about a second (`LINGER_SECONDS` after a batch of webhooks,
at most `POLL_SECONDS` for messages written by other paths or processes).
`catch_up` indexes everything committed so far, now: tests and tools that search right after
writing call it. PostgreSQL: nothing to do (its trigram index is maintained by the database).

After indexing, the same loop checkpoints SQLite's WAL beside the writer (`Writer.checkpoint`), which
no longer does it inside a webhook batch's commit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING

from inbox.db import is_connection_error
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)

WAKE = "search-index"
# Message ids per transaction: the writer is shared with the webhooks, which wait at most one chunk.
# Measured over 200,000 indexed messages (load average 5): 33-48 us a message at 250 or 1,000 a
# chunk alike, but a chunk of 1,000 held the writer up to 140 ms, one of 250 up to 60 ms.
CHUNK = 250
# After a wake, how long to let messages gather: more per transaction, fewer FTS5 segments to merge.
LINGER_SECONDS = 0.5
# Messages written without a wake (replies, other processes) are found by looking this often.
POLL_SECONDS = 1.0

_MARK = "SELECT message_id FROM search_indexed WHERE id = 1"
_TOP = "SELECT max(id) FROM messages"
_FEED = """
    INSERT INTO messages_fts (rowid, text)
    SELECT id, text FROM messages WHERE id > ? AND id <= ? AND text IS NOT NULL ORDER BY id
"""
_MOVE = "UPDATE search_indexed SET message_id = ? WHERE id = 1"


def pending(raw: sqlite3.Connection) -> tuple[int, int]:
    """(the mark, the highest message id): ids in between are waiting."""
    (mark,) = raw.execute(_MARK).fetchone()
    (top,) = raw.execute(_TOP).fetchone()
    return int(mark), int(top or 0)


def index_pending(raw: sqlite3.Connection, limit: int = CHUNK) -> int:
    """Index the next `limit` message ids past the mark and commit; returns how many ids it covered
    (0: nothing was waiting). Runs on the connection's thread; rolls back and raises on any error."""
    mark, top = pending(raw)  # outside a transaction: an idle poll takes no lock
    if top <= mark:
        return 0
    raw.execute("BEGIN IMMEDIATE")
    try:
        mark, top = pending(raw)  # under the write lock: another process may have indexed them
        upto = min(top, mark + limit)
        if upto > mark:
            raw.execute(_FEED, (mark, upto))
            raw.execute(_MOVE, (upto,))
        raw.commit()
    except BaseException:
        if raw.in_transaction:
            raw.rollback()
        raise
    return max(upto - mark, 0)


def mark_all_indexed(raw: sqlite3.Connection) -> None:
    """After a bulk load that built the index whole (`'rebuild'`): every message is in it."""
    raw.execute("UPDATE search_indexed SET message_id = (SELECT coalesce(max(id), 0) FROM messages)")


async def catch_up(rt: Runtime) -> int:
    """Index every message committed before the call; returns how many ids it covered. No-op on
    PostgreSQL."""
    if rt.sqlite_writer is None:
        return 0
    total = 0
    while True:
        done = await rt.sqlite_writer.run(index_pending, CHUNK)
        if not done:
            return total
        total += done


async def search_index_worker(rt: Runtime) -> None:
    if rt.sqlite_writer is None:
        return
    wake = rt.wakeup(WAKE)
    while True:
        wake.clear()
        try:
            await catch_up(rt)
            await rt.sqlite_writer.checkpoint()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # storage down: keep polling, it comes back
            if not is_connection_error(exc):
                log.exception("indexing messages for search failed")
            else:
                log.warning("search index: storage unavailable (%s); polling again", str(exc).splitlines()[0])
        if await wait_event(wake, POLL_SECONDS):
            await asyncio.sleep(LINGER_SECONDS)

"""PostgreSQL's webhook ingest: a batch of customer messages in one statement, one round trip.

Owns the SQL of the hot path on PostgreSQL; the rules are plan.py's, spelled in SQL (tests run one
scenario through every path and compare), single.py takes everything else and what this statement
leaves over, and SQLite runs the rules on its raw connection in embedded.py. A round trip is the
unit of cost here: each one waits for the event loop behind the HTTP work of the next requests,
and BEGIN, three statements and COMMIT took about 60% of a batch's time in waits
(docs/benchmark.md). So the whole batch is one statement,
run outside an explicit transaction (a statement is its own transaction): dedup, contacts and
identities, the lock-or-open of conversations, the messages, the conversations they move (and wake),
bot jobs, the sequence numbers and the event log, whose frames are composed in SQL exactly as
`inbox.serialize` and `inbox.events` compose them in Python (a test compares them field by field).

What it cannot store because a concurrent transaction won a race (an identity or a conversation
created meanwhile) it stores nothing of and returns as `leftover`: run again, the delivery finds the
winner's rows. Lock order is the one of every batch: conversations by (channel, contact), then the
tenant's sequence row, which is taken last (the statement's event log depends on everything else),
so that commits of one tenant happen in sequence order.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.base import ChannelConfig, MessageReceived
from channels.registry import window_of
from inbox import models as m
from inbox.actions.ingest.plan import BOT_DEBOUNCE, opening_status
from inbox.db import fetch_raw
from inbox.events import EventRecord

# One row per delivery in the `rows` parameter (a JSON list of objects): what the batch knows in
# Python, named as the statement reads it.
_ROWS = [
    ("n", "BIGINT"),  # position in the batch: the order of messages and events
    ("chid", "BIGINT"),
    ("tid", "BIGINT"),
    ("pid", "TEXT"),  # the provider's message id
    ("kind", "TEXT"),  # identity: network, external id, name given
    ("xid", "TEXT"),
    ("name", "TEXT"),
    ("queue", "BIGINT"),  # how a new conversation opens: queue and status
    ("status", "TEXT"),
    ("chkind", "TEXT"),  # the channel as conversation frames show it
    ("chname", "TEXT"),
    ("win", "BIGINT"),  # the provider's messaging window in seconds, if it has one
    ("mkind", "TEXT"),  # the message
    ("body", "TEXT"),
    ("atts", "JSON"),
    ("reply", "TEXT"),
    ("raw", "JSON"),
    ("pts", "TIMESTAMP"),
]
_PG = postgresql.dialect()
_NOW = "$2::timestamp"  # naive UTC, as every timestamp column stores it


def _iso(col: str) -> str:
    """`inbox.serialize.iso` in SQL: ISO 8601 with `Z`, microseconds only when there are some."""
    return (
        f"""(to_char({col}, 'YYYY-MM-DD"T"HH24:MI:SS')"""
        f" || CASE WHEN to_char({col}, 'US') = '000000' THEN '' ELSE '.' || to_char({col}, 'US') END"
        " || 'Z')"
    )


def _message_json(r: str) -> str:
    """`inbox.serialize.message_json` of the messages row `r` (never deleted here)."""
    return f"""json_build_object(
        'id', {r}.id, 'conversation_id', {r}.conversation_id, 'direction', {r}.direction,
        'sender', json_build_object('type', {r}.sender_type, 'id', {r}.sender_id),
        'kind', {r}.kind, 'text', {r}.text, 'attachments', {r}.attachments, 'status', {r}.status,
        'error', {r}.error, 'provider_message_id', {r}.provider_message_id, 'reply_to', {r}.reply_to,
        'client_id', {r}.client_id, 'private', {r}.status = 'note',
        'created_at', {_iso(f"{r}.created_at")}, 'text_code', {r}.text_code)"""


def _conversation_json(r: str, p: str, *, opened: bool = False) -> str:
    """`inbox.serialize.conversation_json` of the conversations row `r`, with channel and contact
    name from the pair `p`. `opened`: as it was opened, before the message that opened it (no
    unread message, no window yet), which is how `conversation.created` shows it: the
    `message.created` that follows counts its own message."""
    window = (
        "NULL"
        if opened
        else f"""CASE WHEN {p}.win IS NOT NULL
                 THEN {_iso(f"({r}.last_inbound_at + {p}.win * interval '1 second')")} END"""
    )
    unread = "0" if opened else f"{r}.unread_count"
    return f"""json_build_object(
        'id', {r}.id, 'status', {r}.status,
        'channel', json_build_object('id', {r}.channel_id, 'kind', {p}.chkind, 'name', {p}.chname),
        'contact', json_build_object('id', {r}.contact_id, 'name', {p}.pname),
        'assignee_id', {r}.assignee_id, 'queue_id', {r}.queue_id,
        'created_at', {_iso(f"{r}.created_at")}, 'last_message_at', {_iso(f"{r}.last_message_at")},
        'queued_at', {_iso(f"{r}.queued_at")}, 'first_response_at', {_iso(f"{r}.first_response_at")},
        'resolved_at', {_iso(f"{r}.resolved_at")}, 'snoozed_until', {_iso(f"{r}.snoozed_until")},
        'handoff_reason', {r}.handoff_reason, 'unread_count', {unread},
        'window_closes_at', {window}, 'sla_breached', {r}.sla_breached_at IS NOT NULL)"""


_COLUMNS = ", ".join(f"{name} {sqltype}" for name, sqltype in _ROWS)

# Steps, in the order their data flows (lateral subqueries with LIMIT keep every lookup an index
# probe whatever the statistics say; as joins they were planned as hashes over whole tables):
#   i      per delivery: stored already? whose identity is it (and the contact's name)?
#   made   a new contact per unknown identity; w inserts the identities first, and c only the
#          contacts whose identity was not taken meanwhile (foreign keys are checked at the end of
#          the statement), so a lost race leaves no orphan
#   who    per delivery, the contact (`person`; NULL when the identity went to another transaction)
#   named  a contact first seen without a name takes the one a later message brings
#   pairs  each (channel, contact) with its deliveries' count; old: its open conversation, locked in
#          (channel, contact) order so that parallel batches queue instead of deadlocking; new: the
#          missing ones opened, already in their final state (a statement cannot update a row it
#          inserted). One opened meanwhile by another transaction is in neither (ON CONFLICT; the
#          partial index's predicate is a literal, which PostgreSQL needs to prove the arbiter).
#   ins    the messages; a concurrent duplicate delivery inserts nothing
#   bumped the old conversations move (last message, unread count, the customer's last word as the
#          provider stamps it, never later than now nor moving back: plan.written_at); a snoozed one
#          wakes up
#   jobs   a bot turn for each bot conversation that got a message (debounced: run_at moves on)
#   evs    the events in delivery order, a conversation's before its message
#   seqs   the tenant's sequence numbers: last, as they depend on all of the above
STATEMENT = f"""
WITH i AS MATERIALIZED (
    SELECT u.*, known.contact_id, known.name AS known_name,
           (SELECT true FROM messages s
            WHERE s.channel_id = u.chid AND s.provider_message_id = u.pid LIMIT 1) AS stored
    FROM json_to_recordset($1::json) AS u({_COLUMNS})
    LEFT JOIN LATERAL (
        SELECT x.contact_id, c.name
        FROM contact_identities x JOIN contacts c ON c.id = x.contact_id
        WHERE x.tenant_id = u.tid AND x.kind = u.kind AND x.external_id = u.xid LIMIT 1
    ) known ON true
), made AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('contacts', 'id')) AS id, d.* FROM (
        SELECT DISTINCT ON (tid, kind, xid) tid, kind, xid, name FROM i
        WHERE stored IS NULL AND contact_id IS NULL
        ORDER BY tid, kind, xid, name IS NULL, n
    ) d
), w AS (
    INSERT INTO contact_identities (tenant_id, contact_id, kind, external_id)
    SELECT tid, id, kind, xid FROM made ORDER BY id
    ON CONFLICT (tenant_id, kind, external_id) DO NOTHING
    RETURNING contact_id
), c AS (
    INSERT INTO contacts (id, tenant_id, name, lead_status, attributes, created_at)
    SELECT id, tid, name, 'new', CAST('{{}}' AS JSON), {_NOW} FROM made
    WHERE id IN (SELECT contact_id FROM w) ORDER BY id
), who AS MATERIALIZED (
    SELECT i.*, COALESCE(i.contact_id, w.contact_id) AS person, COALESCE(i.known_name, made.name) AS given
    FROM i
    LEFT JOIN made ON i.contact_id IS NULL AND i.stored IS NULL
         AND made.tid = i.tid AND made.kind = i.kind AND made.xid = i.xid
    LEFT JOIN w ON w.contact_id = made.id
    WHERE i.stored IS NULL
), named AS (
    UPDATE contacts ct SET name = v.name
    FROM (
        SELECT DISTINCT ON (person) person, name FROM who
        WHERE contact_id IS NOT NULL AND known_name IS NULL AND name IS NOT NULL
        ORDER BY person, n
    ) v
    WHERE ct.id = v.person AND ct.name IS NULL
    RETURNING ct.id, ct.name
), pairs AS MATERIALIZED (
    SELECT DISTINCT ON (chid, person)
           chid, person, tid, queue, status, chkind, chname, win,
           COALESCE(given, (SELECT named.name FROM named WHERE named.id = who.person)) AS pname,
           count(*) OVER (PARTITION BY chid, person) AS k, min(n) OVER (PARTITION BY chid, person) AS first,
           max(LEAST({_NOW}, COALESCE(pts, {_NOW}))) OVER (PARTITION BY chid, person) AS inbound
    FROM who
    WHERE person IS NOT NULL
    ORDER BY chid, person
), old AS (
    SELECT cv.* FROM pairs CROSS JOIN LATERAL (
        SELECT * FROM conversations
        WHERE channel_id = pairs.chid AND contact_id = pairs.person AND status <> 'resolved'
        LIMIT 1 FOR UPDATE
    ) cv
), new AS (
    INSERT INTO conversations (tenant_id, channel_id, contact_id, queue_id, status, created_at,
                               last_message_at, last_inbound_at, queued_at, bot_turns, unread_count)
    SELECT tid, chid, person, queue, status, {_NOW},
           {_NOW}, inbound, CASE WHEN status = 'queued' THEN {_NOW} END, 0, k
    FROM pairs
    WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.channel_id = pairs.chid AND old.contact_id = pairs.person)
    ORDER BY chid, person
    ON CONFLICT (channel_id, contact_id) WHERE status <> 'resolved' DO NOTHING
    RETURNING *
), convs AS (
    SELECT id, channel_id, contact_id FROM old UNION ALL SELECT id, channel_id, contact_id FROM new
), ins AS (
    INSERT INTO messages (tenant_id, conversation_id, channel_id, direction, sender_type, sender_id, kind,
                          text, attachments, status, provider_message_id, reply_to, deleted, raw,
                          provider_ts, created_at)
    SELECT who.tid, convs.id, who.chid, 'in', 'contact', who.person, who.mkind,
           who.body, COALESCE(who.atts, CAST('[]' AS JSON)), 'received', who.pid, who.reply, false, who.raw,
           who.pts, {_NOW}
    FROM who JOIN convs ON convs.channel_id = who.chid AND convs.contact_id = who.person
    ORDER BY who.n
    ON CONFLICT (channel_id, provider_message_id) DO NOTHING
    RETURNING *
), got AS MATERIALIZED (
    SELECT who.n, ins.* FROM ins JOIN who ON who.chid = ins.channel_id AND who.pid = ins.provider_message_id
), kin AS (
    SELECT conversation_id, count(*) AS k, min(n) AS first,
           max(LEAST({_NOW}, COALESCE(provider_ts, {_NOW}))) AS inbound
    FROM got GROUP BY conversation_id
), bumped AS (
    UPDATE conversations cv
    SET last_message_at = {_NOW},
        last_inbound_at = GREATEST(cv.last_inbound_at, kin.inbound),
        unread_count = cv.unread_count + kin.k,
        status = CASE WHEN cv.status <> 'snoozed' THEN cv.status
                      WHEN cv.assignee_id IS NULL THEN 'queued' ELSE 'assigned' END,
        snoozed_until = CASE WHEN cv.status = 'snoozed' THEN NULL ELSE cv.snoozed_until END,
        queued_at = CASE WHEN cv.status = 'snoozed' AND cv.assignee_id IS NULL THEN {_NOW}
                         ELSE cv.queued_at END
    FROM old JOIN kin ON kin.conversation_id = old.id
    WHERE cv.id = old.id
    RETURNING cv.*, old.status = 'snoozed' AS woke, kin.first
), final AS MATERIALIZED (
    SELECT id, tenant_id, status, assignee_id, queue_id FROM bumped
    UNION ALL SELECT id, tenant_id, status, assignee_id, queue_id FROM new
), jobs AS (
    INSERT INTO jobs (tenant_id, kind, key, run_at, attempts, payload, created_at)
    SELECT tenant_id, 'bot', CAST(id AS TEXT), $3::timestamp, 0,
           json_build_object('conversation_id', id), {_NOW}
    FROM final WHERE status = 'bot' AND id IN (SELECT conversation_id FROM kin)
    ORDER BY id
    ON CONFLICT (kind, key) DO UPDATE SET run_at = excluded.run_at
    RETURNING 1
), evs AS MATERIALIZED (
    SELECT g.tenant_id AS tid, g.n, 1 AS sub, 'message.created' AS type, g.conversation_id AS conv,
           f.assignee_id, f.queue_id, CAST({_message_json("g")} AS TEXT) AS data
    FROM got g JOIN final f ON f.id = g.conversation_id
    UNION ALL
    SELECT r.tenant_id, p.first, 0, 'conversation.created', r.id, r.assignee_id, r.queue_id,
           CAST({_conversation_json("r", "p", opened=True)} AS TEXT)
    FROM new r JOIN pairs p ON p.chid = r.channel_id AND p.person = r.contact_id
    UNION ALL
    SELECT r.tenant_id, r.first, 0, 'conversation.updated', r.id, r.assignee_id, r.queue_id,
           CAST({_conversation_json("r", "p")} AS TEXT)
    FROM bumped r JOIN pairs p ON p.chid = r.channel_id AND p.person = r.contact_id
    WHERE r.woke
), seqs AS (
    UPDATE tenants t SET last_seq = t.last_seq + e.k
    FROM (SELECT tid, count(*) AS k FROM evs GROUP BY tid ORDER BY tid) e, (SELECT count(*) AS k FROM jobs) j
    WHERE t.id = e.tid
    RETURNING t.id, t.last_seq - e.k AS base, j.k AS jobs
), logged AS (
    INSERT INTO events (tenant_id, seq, type, conversation_id, assignee_id, prev_assignee_id, queue_id,
                        frame, created_at)
    SELECT e.tid, s.base + e.ord, e.type, e.conv, e.assignee_id, NULL, e.queue_id,
           '{{"seq":' || (s.base + e.ord) || ',"type":"' || e.type || '","data":' || e.data || '}}', {_NOW}
    FROM (SELECT evs.*, row_number() OVER (PARTITION BY tid ORDER BY n, sub) AS ord FROM evs) e
    JOIN seqs s ON s.id = e.tid
    RETURNING tenant_id, seq, type, conversation_id, assignee_id, queue_id, frame
)
SELECT 'event' AS what, tenant_id, seq, type, conversation_id, assignee_id, queue_id, frame FROM logged
UNION ALL
SELECT 'leftover', NULL, n, NULL, NULL, NULL, NULL, NULL FROM who
WHERE NOT EXISTS (SELECT 1 FROM convs WHERE convs.channel_id = who.chid AND convs.contact_id = who.person)
UNION ALL
SELECT 'queued', NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE EXISTS (SELECT 1 FROM new WHERE status = 'queued')
   OR EXISTS (SELECT 1 FROM bumped WHERE woke AND status = 'queued')
UNION ALL
SELECT 'bot', NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE EXISTS (SELECT 1 FROM seqs WHERE jobs > 0)
"""


@dataclass
class Outcome:
    records: list[EventRecord]  # committed events, in (tenant, sequence) order
    leftover: list[int]  # indexes into the batch of deliveries that lost a race: run them again
    queued: bool  # a conversation entered the queue: wake routing
    bot: bool  # bot turns were scheduled: wake the jobs worker


def _row(n: int, ch: ChannelConfig, ev: MessageReceived) -> dict[str, Any]:
    return {
        "n": n,
        "chid": ch.id,
        "tid": ch.tenant_id,
        "pid": ev.provider_message_id,
        "kind": ev.contact.kind,
        "xid": ev.contact.external_id,
        "name": ev.contact.name or None,
        "queue": ch.queue_id,
        "status": opening_status(ch),
        "chkind": ch.kind,
        "chname": ch.name,
        "win": _window_seconds(ch.provider),
        "mkind": ev.kind,
        "body": ev.text,
        "atts": [asdict(a) for a in ev.attachments],
        "reply": ev.reply_to,
        "raw": dict(ev.raw) if ev.raw is not None else None,
        "pts": None if ev.timestamp is None else _naive(ev.timestamp).isoformat(),
    }


@functools.cache
def _window_seconds(provider: str) -> int | None:
    window = window_of(provider)
    return None if window is None else int(window.total_seconds())


_UTC = m.UTCDateTime()  # one instance: building the type per call was a fifth of `_row`'s time


def _naive(t: datetime) -> datetime:
    """Naive UTC, as every timestamp column stores it."""
    return _UTC.process_bind_param(t, _PG)  # type: ignore[return-value]


async def ingest(
    conn: AsyncConnection, pairs: Sequence[tuple[ChannelConfig, MessageReceived]], now: datetime
) -> Outcome:
    """Store the customer messages `pairs` (distinct (channel, provider id)), with everything they
    imply, in one statement on `conn`'s asyncpg connection (its own transaction unless `conn` is in
    one). A lost connection raises StorageUnavailable; PostgreSQL's errors come as asyncpg's."""
    rows = json.dumps([_row(n, ch, ev) for n, (ch, ev) in enumerate(pairs)], separators=(",", ":"))
    naive = _naive(now)
    result = await fetch_raw(conn, STATEMENT, rows, naive, naive + BOT_DEBOUNCE)
    records: list[EventRecord] = []
    out = Outcome(records, [], False, False)
    for row in result:
        what, tid, seq, type_, conv, assignee, queue, frame = row
        if what == "event":
            records.append(EventRecord(tid, seq, type_, conv, assignee, None, queue, frame))
        elif what == "leftover":
            out.leftover.append(seq)
        elif what == "queued":
            out.queued = True
        else:
            out.bot = True
    records.sort(key=lambda r: (r.tenant_id, r.seq))
    out.leftover.sort()
    return out

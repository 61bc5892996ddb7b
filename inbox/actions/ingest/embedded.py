"""SQLite's webhook ingest: a batch of customer messages, committed in one thread hop.

Owns the hot path's writes on SQLite. The whole batch (dedup, contacts and identities, the open
conversations, the messages, the conversations they move and wake, bot jobs, the tenant's sequence
numbers and the event log, then COMMIT) is one call queued on aiosqlite's thread, on its raw
sqlite3 connection. Not through SQLAlchemy: its per-row parameter and result processing (datetimes,
JSON, `construct_params` per row) was the largest share of a batch (docs/benchmark.md). The SQL
text is constant, so sqlite3's per-connection statement cache prepares each statement once; rows
go in by `executemany` where nothing comes back. Values are stored exactly as SQLAlchemy's types
store them (naive UTC datetimes as ISO text, JSON as `json.dumps` text), so that every other path
reads them unchanged; test_paths.py runs one scenario down every path and compares.

BEGIN IMMEDIATE takes SQLite's single write lock before the first read, so what the batch reads
cannot change before it commits: there is no race to lose (contrast postgresql.py). Same rules as
every path (plan.py); statuses, unsends, echoes and answer words take single.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from channels.base import ChannelConfig, MessageReceived
from inbox.actions.events import conversation_event, message_event
from inbox.actions.ingest import plan
from inbox.events import Event, EventRecord
from inbox.sqlite_raw import append_events, stored_time

_STORED = "SELECT 1 FROM messages WHERE channel_id = ? AND provider_message_id = ?"
_IDENTITY = """
    SELECT i.contact_id, c.name FROM contact_identities AS i JOIN contacts AS c ON c.id = i.contact_id
    WHERE i.tenant_id = ? AND i.kind = ? AND i.external_id = ?
"""
_INSERT_CONTACT = """
    INSERT INTO contacts (tenant_id, name, lead_status, attributes, created_at) VALUES (?, ?, 'new', '{}', ?)
"""
_INSERT_IDENTITY = (
    "INSERT INTO contact_identities (tenant_id, contact_id, kind, external_id) VALUES (?, ?, ?, ?)"
)
_SET_NAME = "UPDATE contacts SET name = ? WHERE id = ? AND name IS NULL"
# What a message needs of its open conversation: who sees it, and whether it wakes.
_OPEN = """
    SELECT id, status, assignee_id, queue_id, queued_at FROM conversations
    WHERE channel_id = ? AND contact_id = ? AND status <> 'resolved' ORDER BY id LIMIT 1
"""
_INSERT_CONVERSATION = """
    INSERT INTO conversations (tenant_id, channel_id, contact_id, queue_id, status, created_at,
                               last_message_at, queued_at, bot_turns, unread_count)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0)
"""
_INSERT_MESSAGE = """
    INSERT INTO messages (tenant_id, conversation_id, channel_id, direction, sender_type, sender_id,
                          kind, text, attachments, status, provider_message_id, reply_to, deleted,
                          raw, provider_ts, created_at)
    VALUES (?, ?, ?, 'in', 'contact', ?, ?, ?, ?, 'received', ?, ?, 0, ?, ?, ?)
    ON CONFLICT (channel_id, provider_message_id) DO NOTHING
"""
# plan.later_inbound, spelled in SQL: the customer's last word never moves back.
_BUMP = """
    UPDATE conversations SET last_message_at = ?1,
        last_inbound_at = CASE WHEN last_inbound_at IS NOT NULL AND last_inbound_at > ?2
                               THEN last_inbound_at ELSE ?2 END,
        unread_count = unread_count + ?3
    WHERE id = ?4
"""
_CONVERSATION = (
    "id", "tenant_id", "channel_id", "contact_id", "queue_id", "status", "assignee_id", "created_at",
    "last_message_at", "last_inbound_at", "queued_at", "first_response_at", "resolved_at",
    "snoozed_until", "handoff_reason", "unread_count", "sla_breached_at",
)  # fmt: skip
_TIMES = {n for n in _CONVERSATION if n.endswith("_at") or n == "snoozed_until"}
_WAKE = f"""
    UPDATE conversations SET last_message_at = ?1,
        last_inbound_at = CASE WHEN last_inbound_at IS NOT NULL AND last_inbound_at > ?2
                               THEN last_inbound_at ELSE ?2 END,
        unread_count = unread_count + ?3, status = ?5, snoozed_until = ?6, queued_at = ?7
    WHERE id = ?4
    RETURNING {", ".join(_CONVERSATION)}
"""
_BOT_JOB = """
    INSERT INTO jobs (tenant_id, kind, "key", run_at, attempts, payload, created_at)
    VALUES (?, 'bot', ?, ?, 0, ?, ?)
    ON CONFLICT (kind, "key") DO UPDATE SET run_at = excluded.run_at
"""


@dataclass
class Outcome:
    records: list[EventRecord]  # committed: publish them
    queued: set[int]  # tenants where a conversation entered the queue: routing visits them
    bot: bool  # bot turns were scheduled: wake the jobs worker


def ingest(
    raw: sqlite3.Connection, todo: Sequence[tuple[ChannelConfig, MessageReceived]], now: datetime
) -> Outcome:
    """Store `todo` (each (channel, provider id) once) and commit; runs on the connection's thread.
    Rolls back and raises on any error."""
    raw.execute("BEGIN IMMEDIATE")
    try:
        out = _store(raw, todo, now)
        raw.commit()
    except BaseException:
        if raw.in_transaction:
            raw.rollback()
        raise
    return out


def _store(
    raw: sqlite3.Connection, todo: Sequence[tuple[ChannelConfig, MessageReceived]], now: datetime
) -> Outcome:
    at = stored_time(now)
    # 1. Repeated deliveries already stored.
    fresh = [
        (ch, ev)
        for ch, ev in todo
        if raw.execute(_STORED, (ch.id, ev.provider_message_id)).fetchone() is None
    ]
    if not fresh:
        return Outcome([], set(), False)

    # 2. Contacts, by identity (the first name the batch gives; a nameless contact takes it).
    names = plan.first_names(fresh)
    contacts: dict[plan.Key, tuple[int, str | None]] = {}
    new_identities = []
    for key, name in names.items():
        found = raw.execute(_IDENTITY, key).fetchone()
        if found is None:
            cid = raw.execute(_INSERT_CONTACT, (key[0], name, at)).lastrowid
            assert cid is not None
            new_identities.append((key[0], cid, key[1], key[2]))
            contacts[key] = (cid, name)
        elif found[1] is None and name:
            raw.execute(_SET_NAME, (name, found[0]))
            contacts[key] = (found[0], name)
        else:
            contacts[key] = (found[0], found[1])
    if new_identities:
        raw.executemany(_INSERT_IDENTITY, new_identities)

    # 3. Open conversations, opened where missing; 4. the messages.
    convs: dict[tuple[int, int], dict[str, Any]] = {}
    created: set[int] = set()
    rows: list[tuple[ChannelConfig, MessageReceived, dict[str, Any], dict[str, Any]]] = []
    for ch, ev in fresh:
        contact_id = contacts[plan.identity_key(ch, ev)][0]
        conv = convs.get((ch.id, contact_id))
        if conv is None:
            conv = _open(raw, ch, contact_id, now, at, created)
            convs[(ch.id, contact_id)] = conv
        atts = [asdict(a) for a in ev.attachments]
        raw_item = dict(ev.raw) if ev.raw is not None else None
        cur = raw.execute(
            _INSERT_MESSAGE,
            (
                ch.tenant_id, conv["id"], ch.id, contact_id, ev.kind, ev.text, _json(atts),
                ev.provider_message_id, ev.reply_to, _json(raw_item), stored_time(ev.timestamp), at,
            ),
        )  # fmt: skip
        if cur.rowcount != 1:  # not possible under the write lock; kept as the rule everywhere
            continue
        message = {
            "id": cur.lastrowid, "tenant_id": ch.tenant_id, "conversation_id": conv["id"],
            "channel_id": ch.id, "direction": "in", "sender_type": "contact", "sender_id": contact_id,
            "kind": ev.kind, "text": ev.text, "attachments": atts, "status": "received", "error": None,
            "provider_message_id": ev.provider_message_id, "reply_to": ev.reply_to, "client_id": None,
            "deleted": False, "raw": raw_item, "provider_ts": ev.timestamp, "created_at": now,
            "text_code": None,
        }  # fmt: skip
        rows.append((ch, ev, conv, message))
    if not rows:
        return Outcome([], set(), False)

    # 5. Conversations move: last message, the customer's last word, unread count; a snoozed one wakes.
    counts: dict[int, int] = {}
    inbound: dict[int, datetime] = {}
    by_id: dict[int, dict[str, Any]] = {}
    for _, ev, conv, _ in rows:
        cid = conv["id"]
        by_id[cid] = conv
        counts[cid] = counts.get(cid, 0) + 1
        written = plan.written_at(ev, now)
        inbound[cid] = max(inbound.get(cid, written), written)
    bumps = []
    woken: dict[int, dict[str, Any]] = {}
    for cid in sorted(counts):
        conv = by_id[cid]
        wake = plan.woken(conv["status"], conv["assignee_id"], conv["queued_at"], now)
        params = (at, stored_time(inbound[cid]), counts[cid], cid)
        if wake is None:
            bumps.append(params)
            continue
        woke = raw.execute(
            _WAKE,
            (*params, wake["status"], stored_time(wake["snoozed_until"]), stored_time(wake["queued_at"])),
        ).fetchone()
        woken[cid] = _conversation(woke)
    if bumps:
        raw.executemany(_BUMP, bumps)
    queued = {by_id[c]["tenant_id"] for c in created if c in by_id and by_id[c]["status"] == "queued"}
    queued |= {w["tenant_id"] for w in woken.values() if w["status"] == "queued"}

    # Bot turns: one pending job per conversation, pushed back by each message (debounce).
    bots = [c for c in sorted(counts) if woken.get(c, by_id[c])["status"] == "bot"]
    if bots:
        run_at = stored_time(now + plan.BOT_DEBOUNCE)
        raw.executemany(
            _BOT_JOB,
            [(by_id[c]["tenant_id"], str(c), run_at, json.dumps({"conversation_id": c}), at) for c in bots],
        )

    # 6. Events in delivery order: a new conversation's `conversation.created` before its first message.
    events: list[tuple[int, Event]] = []
    announced: set[int] = set()
    for ch, ev, conv, message in rows:
        cid = conv["id"]
        if cid not in announced:
            announced.add(cid)
            name = contacts[plan.identity_key(ch, ev)][1]
            if cid in created:
                events.append((ch.tenant_id, conversation_event("conversation.created", conv, ch, name)))
            if cid in woken:
                events.append(
                    (ch.tenant_id, conversation_event("conversation.updated", woken[cid], ch, name))
                )
        events.append((ch.tenant_id, message_event("message.created", message, woken.get(cid, conv))))
    return Outcome(append_events(raw, events, at), queued, bool(bots))


def _open(
    raw: sqlite3.Connection, ch: ChannelConfig, contact_id: int, now: datetime, at: str, created: set[int]
) -> dict[str, Any]:
    """The contact's open conversation on this channel (the fields a message needs), opened if none."""
    found = raw.execute(_OPEN, (ch.id, contact_id)).fetchone()
    if found is not None:
        cid, status, assignee_id, queue_id, queued_at = found
        return {
            "id": cid, "tenant_id": ch.tenant_id, "status": status, "assignee_id": assignee_id,
            "queue_id": queue_id, "queued_at": _time(queued_at),
        }  # fmt: skip
    row = plan.new_conversation(ch, contact_id, now)
    cid = raw.execute(
        _INSERT_CONVERSATION,
        (ch.tenant_id, ch.id, contact_id, ch.queue_id, row["status"], at, at, stored_time(row["queued_at"])),
    ).lastrowid
    assert cid is not None
    created.add(cid)
    # The whole row, as conversation.created shows it.
    row.update(
        id=cid, assignee_id=None, last_inbound_at=None, first_response_at=None, resolved_at=None,
        snoozed_until=None, handoff_reason=None, sla_breached_at=None,
    )  # fmt: skip
    return row


def _json(value: Any) -> str:
    """JSON text as SQLAlchemy's JSON type stores it (most messages have no attachments, no raw)."""
    return "[]" if value == [] else "null" if value is None else json.dumps(value)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _conversation(values: Sequence[Any]) -> dict[str, Any]:
    return {k: _time(v) if k in _TIMES else v for k, v in zip(_CONVERSATION, values, strict=True)}

"""The portable set-based path: a batch of customer messages in a few statements, in one unit of work.

Owns the portable form of the batch (SQLite's hot path is embedded.py, on the raw connection; this
runs where that cannot, and tests run both on both databases to compare the rules):
per batch, one dedup read per channel, one identity read per network, one open-conversation read per
channel (locked, in id order), one multi-row insert each for new contacts, identities, conversations
and messages, one executemany to bump conversations. Each statement is a round trip and, through
aiosqlite, several thread hops: that per-statement cost is what this module exists to cut
(PERFORMANCE.md). The statements are plain synchronous SQLAlchemy run through `UnitOfWork.run_sync`:
on SQLite inside aiosqlite's thread, in one hop. Same rules and events as single.py (plan.py), which
takes every other delivery (statuses, deletions, echoes) unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnClause

from channels.base import ChannelConfig, MessageReceived
from inbox import models as m
from inbox.actions.events import conversation_event, message_event
from inbox.actions.ingest import plan, single
from inbox.actions.ingest import statements as st
from inbox.actions.ingest.plan import Item
from inbox.db import insert as dialect_insert
from inbox.db import per_dialect
from inbox.signals import routing_changed
from inbox.uow import UnitOfWork

cv, msg, idt, ct = m.conversations.c, m.messages.c, m.contact_identities.c, m.contacts.c


def _in(col: ColumnClause[Any] | ColumnElement[Any], name: str) -> ColumnElement[bool]:
    return col.in_(bindparam(name, expanding=True))


class _Statements:
    """The set-based statements, per dialect (`_statements`)."""

    def __init__(self, d: str) -> None:
        self.stored = select(msg.provider_message_id).where(
            msg.channel_id == bindparam("chid"), _in(msg.provider_message_id, "pids")
        )
        self.identities = (
            select(idt.external_id, idt.contact_id, ct.name)
            .join(m.contacts, ct.id == idt.contact_id)
            .where(
                idt.tenant_id == bindparam("tid"),
                idt.kind == bindparam("kind"),
                _in(idt.external_id, "xids"),
            )
        )
        self.insert_contacts = insert(m.contacts).returning(ct.id, sort_by_parameter_order=True)
        self.insert_identities = (
            dialect_insert(d, m.contact_identities)
            .on_conflict_do_nothing(index_elements=["tenant_id", "kind", "external_id"])
            .returning(idt.kind, idt.external_id, idt.contact_id)
        )
        self.delete_contacts = delete(m.contacts).where(_in(ct.id, "ids"))
        self.set_name = (
            update(m.contacts)
            .where(ct.id == bindparam("cid"), ct.name.is_(None))
            .values(name=bindparam("name"))
        )
        # Locked (PostgreSQL; SQLite has one writer) in id order, so that parallel batches queue on
        # a conversation instead of deadlocking, and the assignee read here is the one at commit.
        self.open = (
            select(m.conversations)
            .where(
                cv.channel_id == bindparam("chid"),
                cv.status != "resolved",
                _in(cv.contact_id, "cids"),
            )
            .order_by(cv.id)
            .with_for_update()
        )
        # The single path's inserts (one definition of the partial-index conflict rule).
        self.insert_conversations = st.on_conflict(d).insert_conversation
        self.insert_messages = st.on_conflict(d).insert_message
        # k customer messages arrive (plan.woken says what else changes when one wakes it up).
        arrival = {
            "last_message_at": bindparam("now"),
            "last_inbound_at": plan.later_inbound(cv.last_inbound_at, bindparam("inbound")),
            "unread_count": cv.unread_count + bindparam("k"),
        }
        self.bump = update(m.conversations).where(cv.id == bindparam("cid")).values(**arrival)
        self.wake = (
            update(m.conversations)
            .where(cv.id == bindparam("cid"))
            .values(
                **arrival,
                status=bindparam("status"),
                snoozed_until=bindparam("snoozed_until"),
                queued_at=bindparam("queued_at"),
            )
            .returning(m.conversations)
        )


_statements = per_dialect(_Statements)


async def ingest_batch(uow: UnitOfWork, items: Sequence[Item]) -> None:
    """Store what every delivery in `items` says, in this unit of work (the portable path)."""
    fast = plan.customer_messages(items)
    if fast:
        bots = await uow.run_sync(_messages, uow, fast)
        for tenant_id, conversation_id in bots:
            await single.schedule_bot_turn(uow, tenant_id, conversation_id)
    for ch, evs in items:
        if not plan.plain(evs):
            await single.ingest(uow, ch, evs)


Todo = dict[tuple[int, str], tuple[ChannelConfig, MessageReceived]]


Found = tuple[dict[plan.Key, tuple[int, str | None]], dict[tuple[int, int], Mapping[Any, Any]], set[int]]


def _messages(
    conn: Connection, uow: UnitOfWork, pairs: list[tuple[ChannelConfig, MessageReceived]]
) -> list[tuple[int, int]]:
    """Synchronous on purpose: see `ingest_batch`. Returns the (tenant, conversation) pairs that need
    a bot turn (scheduled by the caller, which is async)."""
    s = _statements(uow.dialect)
    now = m.utcnow()
    todo: Todo = {(ch.id, ev.provider_message_id): (ch, ev) for ch, ev in pairs}
    found = _people(conn, s, todo, now)
    if found is None:
        return []
    contacts, convs, created = found
    opened = {c["tenant_id"] for c in convs.values() if c["id"] in created and c["status"] == "queued"}
    if opened:
        uow.after_commit(lambda: routing_changed(uow.runtime, *opened))

    # 4. Messages; a concurrent duplicate delivery inserts nothing here.
    message_rows = []
    conv_of: dict[tuple[int, str], Mapping[Any, Any]] = {}
    for (chid, pid), (ch, ev) in todo.items():
        contact_id = contacts[plan.identity_key(ch, ev)][0]
        conv = convs[(chid, contact_id)]
        conv_of[(chid, pid)] = conv
        message_rows.append(plan.message_row(ch, conv["id"], contact_id, ev, now))
    fresh = [r._mapping for r in conn.execute(s.insert_messages, message_rows)]
    inserted = {(r["channel_id"], r["provider_message_id"]): r for r in fresh}
    if not inserted:
        return []

    # 5. Conversations move: last message, the customer's last word, unread count; a snoozed one wakes.
    counts: dict[int, int] = {}
    inbound: dict[int, datetime] = {}
    for mkey in inserted:
        cid = conv_of[mkey]["id"]
        counts[cid] = counts.get(cid, 0) + 1
        written = plan.written_at(todo[mkey][1], now)
        inbound[cid] = max(inbound.get(cid, written), written)
    by_id = {c["id"]: c for c in convs.values()}
    bumps: list[dict[str, Any]] = []
    woken: dict[int, Mapping[Any, Any]] = {}
    for cid in sorted(counts):
        conv = by_id[cid]
        wake = plan.woken(conv["status"], conv["assignee_id"], conv["queued_at"], now)
        if wake is not None:
            params = {"cid": cid, "now": now, "k": counts[cid], "inbound": inbound[cid], **wake}
            woken[cid] = (conn.execute(s.wake, params)).one()._mapping
        else:
            bumps.append({"cid": cid, "now": now, "k": counts[cid], "inbound": inbound[cid]})
    if bumps:
        conn.execute(s.bump, bumps)
    requeued = {w["tenant_id"] for w in woken.values() if w["status"] == "queued"}
    if requeued:
        uow.after_commit(lambda: routing_changed(uow.runtime, *requeued))

    # 6. Events in delivery order: a new conversation's `conversation.created` before its first message.
    announced: set[int] = set()
    for mkey, (ch, ev) in todo.items():
        mrow = inserted.get(mkey)
        if mrow is None:
            continue
        conv = conv_of[mkey]
        cid = conv["id"]
        name = contacts[plan.identity_key(ch, ev)][1]
        if cid not in announced:
            announced.add(cid)
            if cid in created:
                uow.emit(ch.tenant_id, conversation_event("conversation.created", conv, ch, name))
            if cid in woken:
                uow.emit(ch.tenant_id, conversation_event("conversation.updated", woken[cid], ch, name))
        uow.emit(ch.tenant_id, message_event("message.created", mrow, woken.get(cid, conv)))
    bots = [(woken.get(cid, by_id[cid])["tenant_id"], cid) for cid in sorted(counts)]
    return [(tid, cid) for tid, cid in bots if woken.get(cid, by_id[cid])["status"] == "bot"]


def _people(conn: Connection, s: _Statements, todo: Todo, now: datetime) -> Found | None:
    """Steps 1-3 in portable statements: drops from `todo` what is stored already; returns the
    contacts (identity -> id, name), the open conversations ((channel, contact) -> row) and the ids of
    those opened here. None when nothing is left to store."""
    # 1. Repeated deliveries already stored.
    for chid in {k[0] for k in todo}:
        pids = [pid for c, pid in todo if c == chid]
        for (pid,) in conn.execute(s.stored, {"chid": chid, "pids": pids}):
            todo.pop((chid, pid), None)
    if not todo:
        return None

    # 2. Contacts, by identity; new ones created, a concurrent creator of the same identity wins.
    names = plan.first_names(list(todo.values()))
    contacts = _read_identities(conn, s, list(names))
    missing = sorted(k for k in names if k not in contacts)
    if missing:
        _create_contacts(conn, s, missing, names, contacts)
    _set_names(conn, s, contacts, names)

    # 3. Open conversations, opened where missing.
    channels: dict[int, ChannelConfig] = {ch.id: ch for ch, _ in todo.values()}
    wanted = sorted({(ch.id, contacts[plan.identity_key(ch, ev)][0]) for ch, ev in todo.values()})
    convs: dict[tuple[int, int], Mapping[Any, Any]] = {}
    created: set[int] = set()
    for chid in sorted({chid for chid, _ in wanted}):
        cids = [cid for c, cid in wanted if c == chid]
        for row in conn.execute(s.open, {"chid": chid, "cids": cids}):
            convs[(chid, row.contact_id)] = row._mapping
    new = [k for k in wanted if k not in convs]
    if new:
        rows = [plan.new_conversation(channels[chid], cid, now) for chid, cid in new]
        for row in conn.execute(s.insert_conversations, rows):
            convs[(row.channel_id, row.contact_id)] = row._mapping
            created.add(row.id)
    _opened_elsewhere(conn, s, wanted, convs)
    return contacts, convs, created


def _set_names(
    conn: Connection,
    s: _Statements,
    contacts: dict[plan.Key, tuple[int, str | None]],
    names: dict[plan.Key, str | None],
) -> None:
    """A contact first seen without a name takes the one a later message brings."""
    for ckey, (cid, name) in list(contacts.items()):
        if name is None and names.get(ckey):
            conn.execute(s.set_name, {"cid": cid, "name": names[ckey]})
            contacts[ckey] = (cid, names[ckey])


def _opened_elsewhere(
    conn: Connection,
    s: _Statements,
    wanted: list[tuple[int, int]],
    convs: dict[tuple[int, int], Mapping[Any, Any]],
) -> None:
    """A conversation a concurrent delivery opened first: lock it and use it."""
    for chid, cid in wanted:
        if (chid, cid) not in convs:
            for opened in conn.execute(s.open, {"chid": chid, "cids": [cid]}):
                convs[(chid, cid)] = opened._mapping


def _read_identities(
    conn: Connection, s: _Statements, keys: list[plan.Key]
) -> dict[plan.Key, tuple[int, str | None]]:
    groups: dict[tuple[int, str], list[str]] = {}
    for tid, kind, xid in keys:
        groups.setdefault((tid, kind), []).append(xid)
    found: dict[plan.Key, tuple[int, str | None]] = {}
    for (tid, kind), xids in sorted(groups.items()):
        for xid, cid, name in conn.execute(s.identities, {"tid": tid, "kind": kind, "xids": xids}):
            found[(tid, kind, xid)] = (cid, name)
    return found


def _create_contacts(
    conn: Connection,
    s: _Statements,
    missing: list[plan.Key],
    names: dict[plan.Key, str | None],
    contacts: dict[plan.Key, tuple[int, str | None]],
) -> None:
    """Concurrent first messages converge on one contact: the identity's unique key decides, and the
    loser drops the contacts it made."""
    now = m.utcnow()
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": tid,
            "name": names[(tid, kind, xid)],
            "lead_status": "new",
            "attributes": {},
            "created_at": now,
        }
        for tid, kind, xid in missing
    ]
    ids = [r.id for r in conn.execute(s.insert_contacts, rows)]
    mine = dict(zip(missing, ids, strict=True))
    won = conn.execute(
        s.insert_identities,
        [{"tenant_id": k[0], "contact_id": mine[k], "kind": k[1], "external_id": k[2]} for k in missing],
    )
    tid_of = {(k[1], k[2], mine[k]): k[0] for k in missing}
    for kind, xid, cid in won:
        key = (tid_of[(kind, xid, cid)], kind, xid)
        contacts[key] = (cid, names[key])
    lost = [k for k in missing if k not in contacts]
    if lost:
        conn.execute(s.delete_contacts, {"ids": [mine[k] for k in lost]})
        contacts.update(_read_identities(conn, s, lost))

"""Merging two contacts into one: the customer who wrote on Instagram last month and on WhatsApp today
is one person once an agent says so (issue 15 item 6).

Owns what a merge moves (every table that points at a contact, `MOVED`; a test holds the list
complete) and how two profiles combine: the kept contact's values win, its empty ones are filled
from the other. One transaction: nothing is lost (messages follow their conversations) and nothing
half-done stays. Audited with who merged which into which (ids and counts, never names: an erasure
must leave no trace in the log). Not undoable. It must not publish directly (events go through the
unit of work) nor decide roles beyond the contact visibility rule (inbox/contact_reads.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Row

from inbox import audit
from inbox import models as m
from inbox.actions.contacts import pipeline
from inbox.actions.conversations import change, load
from inbox.actions.events import updated_event
from inbox.auth import Principal
from inbox.contact_reads import readable_contact
from inbox.errors import NotFound, Unprocessable
from inbox.queries import contact_for, conversations_select
from inbox.texts import Text
from inbox.uow import UnitOfWork
from inbox.validation import DbId

ct, cv, msg, jb = m.contacts.c, m.conversations.c, m.messages.c, m.jobs.c

# Every table with a contact_id pointing at contacts: their rows move to the kept contact. Deleting the
# other contact would cascade to any table missing here, so a test fails when a new one is not listed.
MOVED: tuple[Table, ...] = (m.contact_identities, m.conversations, m.appointments, m.automation_runs)


class MergeIn(BaseModel):
    """POST /api/contacts/{id}/merge: the contact `other_id` is merged into `{id}` and goes away."""

    model_config = ConfigDict(extra="forbid")
    other_id: DbId


async def _rename_double_runs(uow: UnitOfWork, kept_id: int, other_id: int) -> None:
    """An automation that ran for both contacts (a welcome each) keeps both runs: the other's
    occurrence is renamed, since a run is unique per (automation, contact, occurrence)."""
    rn = m.automation_runs.c
    twin = m.automation_runs.alias("twin")
    doubles = select(twin.c.id).where(
        twin.c.contact_id == kept_id,
        twin.c.automation_id == rn.automation_id,
        twin.c.occurrence == rn.occurrence,
    )
    await uow.conn.execute(
        update(m.automation_runs)
        .where(rn.contact_id == other_id, doubles.exists())
        .values(occurrence=rn.occurrence + f"@merged-{other_id}")
    )


async def _lock(uow: UnitOfWork, tenant_id: int, ids: list[int]) -> dict[int, Row[Any]]:
    """Both contact rows, held until commit (in id order: two merges of the same pair cannot
    deadlock). On PostgreSQL the row lock also makes a webhook that is about to open a conversation
    for one of them wait, then see the merge; SQLite takes its one write lock instead."""
    if uow.dialect == "sqlite":
        await uow.conn.execute(
            update(m.contacts).where(ct.id.in_(ids), ct.tenant_id == tenant_id).values(tenant_id=ct.tenant_id)
        )
    q = select(m.contacts).where(ct.id.in_(ids), ct.tenant_id == tenant_id).order_by(ct.id)
    if uow.dialect == "postgresql":
        q = q.with_for_update()
    rows = {r.id: r for r in (await uow.conn.execute(q)).all()}
    if len(rows) != len(ids):
        raise NotFound("contact not found")
    return rows


async def merged_profile(uow: UnitOfWork, tenant_id: int, kept: Row[Any], other: Row[Any]) -> dict[str, Any]:
    """The kept contact's profile with its gaps filled from the other's. A lead still at the pipeline's
    first stage counts as not set; opted out if either opted out; known since the earlier of the two."""
    values: dict[str, Any] = {}
    for name in ("name", "email", "phone", "birthday"):
        if not getattr(kept, name) and getattr(other, name):
            values[name] = getattr(other, name)
    attributes = {**(other.attributes or {}), **(kept.attributes or {})}
    if attributes != (kept.attributes or {}):
        values["attributes"] = attributes
    first_stage = (await pipeline(uow, tenant_id))[0]
    if kept.lead_status == first_stage and other.lead_status != first_stage:
        values["lead_status"] = other.lead_status
    opted = [x for x in (kept.opted_out_at, other.opted_out_at) if x is not None]
    if opted and min(opted) != kept.opted_out_at:
        values["opted_out_at"] = min(opted)
    if other.created_at < kept.created_at:
        values["created_at"] = other.created_at
    return values


async def _close_doubles(uow: UnitOfWork, actor: Principal, kept_id: int, other_id: int) -> list[int]:
    """A contact has one open conversation per channel: where both have one, the one with the older
    activity is resolved (kept, with a note pointing at the other). Returns the resolved ids."""
    q = select(cv.id, cv.contact_id, cv.channel_id, cv.last_message_at).where(
        cv.contact_id.in_((kept_id, other_id)), cv.status != "resolved"
    )
    by_channel: dict[int, list[Any]] = {}
    for r in (await uow.conn.execute(q)).all():
        by_channel.setdefault(r.channel_id, []).append(r)
    resolved = []
    for pair in by_channel.values():
        if len(pair) < 2:
            continue
        older, newer = sorted(pair, key=lambda r: (r.last_message_at, r.id))
        await uow.conn.execute(delete(m.jobs).where(jb.kind.in_(("bot", "snooze")), jb.key == str(older.id)))
        conv = await load(uow, actor.tenant_id, older.id, lock=True)
        note = Text("contact.merged", by=actor.name, other=newer.id)
        await change(
            uow,
            conv,
            note,
            why="resolve",
            by=actor.agent_id,
            status="resolved",
            resolved_at=m.utcnow(),
            snoozed_until=None,
        )
        resolved.append(older.id)
    return resolved


async def merge(uow: UnitOfWork, actor: Principal, contact_id: int, other_id: int) -> dict[str, Any]:
    """Merge contact `other_id` into `contact_id` in `uow`'s transaction; answers the merged contact and
    what moved. 404 unless both are the tenant's, 403 unless the actor may read both, 422 for one
    contact twice. Every conversation moved is announced (its contact changed) after commit."""
    if other_id == contact_id:
        raise Unprocessable("other_id: a contact cannot be merged into itself", code="merge_same_contact")
    rows = await _lock(uow, actor.tenant_id, sorted((contact_id, other_id)))
    for cid in (contact_id, other_id):
        await readable_contact(uow.conn, actor, cid)
    kept, other = rows[contact_id], rows[other_id]
    resolved = await _close_doubles(uow, actor, contact_id, other_id)

    moved: dict[str, int] = {}
    conversation_ids = list(
        (await uow.conn.execute(select(cv.id).where(cv.contact_id == other_id).order_by(cv.id))).scalars()
    )
    await _rename_double_runs(uow, kept.id, other_id)
    for table in MOVED:
        c = table.c
        result = await uow.conn.execute(
            update(table)
            .where(c.contact_id == other_id, c.tenant_id == actor.tenant_id)
            .values(contact_id=kept.id)
        )
        moved[table.name] = result.rowcount
    if conversation_ids:
        # The customer's own messages name their sender: the kept contact from now on.
        await uow.conn.execute(
            update(m.messages)
            .where(msg.conversation_id.in_(conversation_ids), msg.sender_type == "contact")
            .values(sender_id=kept.id)
        )
    values = await merged_profile(uow, actor.tenant_id, kept, other)
    await uow.conn.execute(delete(m.contacts).where(ct.id == other_id))
    if values:
        await uow.conn.execute(update(m.contacts).where(ct.id == kept.id).values(**values))

    # Every conversation that changed hands, and the kept contact's open ones when its name changed:
    # lists and contact panels show the contact of each.
    announce = set(conversation_ids)
    if "name" in values:
        open_kept = select(cv.id).where(cv.contact_id == kept.id, cv.status != "resolved")
        announce.update((await uow.conn.execute(open_kept)).scalars())
    if announce:
        q = conversations_select().where(cv.id.in_(sorted(announce))).order_by(cv.id)
        for conv in (await uow.conn.execute(q)).all():
            uow.emit(actor.tenant_id, updated_event(conv))

    summary = {
        "conversations": moved["conversations"],
        "identities": moved["contact_identities"],
        "appointments": moved["appointments"],
        "resolved_conversations": resolved,
    }
    await audit.record(
        uow,
        actor.tenant_id,
        "contact.merged",
        target_type="contact",
        target_id=kept.id,
        details={"merged_contact_id": other_id, **summary, "filled": sorted(values)},
    )
    return {"contact": await contact_for(uow.conn, actor, kept.id), "merged": summary}

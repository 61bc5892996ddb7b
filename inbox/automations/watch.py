"""The watcher: triggers no action announces. A new lead (a contact whose first conversation the
customer opened) is found by a short poll of recent conversations; birthdays by a scan of today's
and tomorrow's, every few minutes and whenever a birthday automation or a contact changes.

Both only write runs (inbox.automations.schedule), which the jobs worker decides when due; several
processes may watch at once: the runs' unique key keeps one. A lead noticed later than
`schedule.STALE_LEAD` (the server was down) gets no welcome: a welcome is only right at once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, cast, exists, func, select

from inbox import models as m
from inbox import routing_settings
from inbox.automations import schedule, triggers
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
au, rn, cv, ct = m.automations.c, m.automation_runs.c, m.conversations.c, m.contacts.c
POLL_SECONDS = 1.0
BIRTHDAYS_EVERY = 600.0
LEAD = "lead"  # the occurrence of a welcome: once per contact


async def _enabled(rt: Runtime, trigger: str) -> dict[int, list[Any]]:
    async with rt.engine.connect() as conn:
        q = select(m.automations).where(au.trigger == trigger, au.enabled.is_(True)).order_by(au.id)
        rows = (await conn.execute(q)).all()
    by_tenant: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_tenant[row.tenant_id].append(row)
    return by_tenant


_older = m.conversations.alias("older")


async def new_leads(rt: Runtime) -> int:
    """Welcome runs for the contacts that opened their first conversation lately; returns how many."""
    made = 0
    now = m.utcnow()
    for tenant_id, automations in (await _enabled(rt, "contact.created")).items():
        for automation in automations:
            since = max(now - schedule.STALE_LEAD, automation.created_at)
            q = (
                select(cv.id, cv.contact_id, cv.created_at)
                .join(m.contacts, ct.id == cv.contact_id)
                .where(
                    cv.tenant_id == tenant_id,
                    cv.last_message_at >= since,
                    cv.created_at >= since,
                    cv.last_inbound_at.is_not(None),
                    ct.created_at >= automation.created_at,
                    ~exists().where(_older.c.contact_id == cv.contact_id, _older.c.id < cv.id),
                    ~exists().where(
                        rn.automation_id == automation.id,
                        rn.contact_id == cv.contact_id,
                        rn.occurrence == LEAD,
                    ),
                )
            )
            if automation.channel_id is not None:
                q = q.where(cv.channel_id == automation.channel_id)
            async with rt.engine.connect() as conn:
                leads = (await conn.execute(q.order_by(cv.id).limit(500))).all()
            for lead in leads:
                async with rt.uow() as uow:
                    made += len(
                        await schedule.schedule(
                            uow, tenant_id, "contact.created", contact_id=lead.contact_id, occurrence=LEAD,
                            anchor=lead.created_at, conversation_id=lead.id, automations=[automation],
                        )
                    )  # fmt: skip
    return made


def _month_day(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(column, "MM-DD")
    return func.strftime("%m-%d", cast(column, String))


def _days(today: date) -> list[tuple[date, list[str]]]:
    """Today and tomorrow, each with the birthdays (MM-DD) celebrated on it: 29 February counts on
    the 28th when the year has none."""
    out = []
    for day in (today, today + timedelta(days=1)):
        keys = [day.strftime("%m-%d")]
        if keys[0] == "02-28" and (day + timedelta(days=1)).month == 3:
            keys.append("02-29")
        out.append((day, keys))
    return out


async def birthdays(rt: Runtime) -> int:
    """Birthday runs (09:00 in the tenant's zone) for today's and tomorrow's birthdays."""
    made = 0
    dialect = rt.engine.dialect.name
    for tenant_id, automations in (await _enabled(rt, "contact.birthday")).items():
        async with rt.engine.connect() as conn:
            zone = (await routing_settings.load(conn, tenant_id)).tz
        today = m.utcnow().astimezone(zone).date()
        for day, keys in _days(today):
            occurrence = f"birthday:{day.year}"
            async with rt.engine.connect() as conn:
                q = select(ct.id, ct.birthday).where(
                    ct.tenant_id == tenant_id,
                    ct.birthday.is_not(None),
                    ct.opted_out_at.is_(None),
                    _month_day(ct.birthday, dialect).in_(keys),
                )
                contacts = (await conn.execute(q)).all()
            for contact in contacts:
                todo = [a for a in automations if not await _has_run(rt, a.id, contact.id, occurrence)]
                if not todo:
                    continue
                anchor = triggers.birthday_anchor(contact.birthday, day.year, zone)
                async with rt.uow() as uow:
                    made += len(
                        await schedule.schedule(
                            uow, tenant_id, "contact.birthday", contact_id=contact.id, occurrence=occurrence,
                            anchor=anchor, automations=todo,
                        )
                    )  # fmt: skip
    return made


async def _has_run(rt: Runtime, automation_id: int, contact_id: int, occurrence: str) -> bool:
    q = select(rn.id).where(
        and_(rn.automation_id == automation_id, rn.contact_id == contact_id, rn.occurrence == occurrence)
    )
    async with rt.engine.connect() as conn:
        return (await conn.execute(q)).first() is not None


async def automations_worker(rt: Runtime) -> None:
    wake = rt.wakeup("automations")
    recheck = rt.wakeup("automations-birthdays")
    last_birthdays = float("-inf")
    while True:
        wake.clear()
        try:
            await new_leads(rt)
            if recheck.is_set() or time.monotonic() - last_birthdays >= BIRTHDAYS_EVERY:
                recheck.clear()
                last_birthdays = time.monotonic()
                await birthdays(rt)
        except Exception:
            log.exception("automations: watching for new leads and birthdays failed")
        await wait_event(wake, POLL_SECONDS)

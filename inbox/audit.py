"""The audit log: who changed what, when, and from which address (issue 19 item 3, issue 14 item 5).

Owns the `audit_log` rows and the rule that no secret reaches them. Actions call `record` inside
their unit of work, so a row commits or rolls back with the change it describes. Who acts comes from
the request (`acting`, set by the API layer for the request's task); the CLI and background work are
the system (no actor). It must not publish events, call providers or decide permissions.
"""

from __future__ import annotations

import base64
import contextvars
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.errors import Invalid
from inbox.serialize import iso
from inbox.uow import UnitOfWork

# Keys whose values are never written, at any depth: only whether they were set.
_SECRET_KEY = re.compile(r"token|secret|password|api_key|apikey|authorization|credential", re.IGNORECASE)
PAGE_SIZE = 50


@dataclass(frozen=True)
class Actor:
    agent_id: int | None
    address: str | None


_SYSTEM = Actor(None, None)
_actor: contextvars.ContextVar[Actor] = contextvars.ContextVar("inbox_audit_actor", default=_SYSTEM)


@contextmanager
def acting(agent_id: int | None, address: str | None) -> Iterator[None]:
    """Attribute the audit rows written inside this block (one request) to `agent_id` at `address`."""
    token = _actor.set(Actor(agent_id, address))
    try:
        yield
    finally:
        _actor.reset(token)


def current() -> Actor:
    return _actor.get()


def scrub(value: Any) -> Any:
    """A JSON-safe copy of `value` with secret-looking keys reduced to "set" (or dropped when empty)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if _SECRET_KEY.search(str(key)):
                if item:
                    out[str(key)] = "set"
                continue
            out[str(key)] = scrub(item)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scrub(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


async def record(
    uow: UnitOfWork,
    tenant_id: int | None,
    action: str,
    *,
    target_type: str | None = None,
    target_id: int | None = None,
    details: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> None:
    """One audit row, in `uow`'s transaction. `actor` defaults to the request's (see `acting`)."""
    who = actor or current()
    await uow.conn.execute(
        insert(m.audit_log).values(
            tenant_id=tenant_id,
            actor_id=who.agent_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=scrub(details or {}),
            address=(who.address or None) and who.address[:64],
            created_at=m.utcnow(),
        )
    )


def _encode(row_id: int) -> str:
    return base64.urlsafe_b64encode(str(row_id).encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise Invalid("cursor is not valid") from exc


async def page(
    conn: AsyncConnection, tenant_id: int, cursor: str | None = None, limit: int = PAGE_SIZE
) -> dict[str, Any]:
    """A tenant's audit rows, newest first: `{"items", "next_cursor"}`."""
    a, ag = m.audit_log.c, m.agents.c
    q = (
        select(m.audit_log, ag.name.label("actor_name"), ag.email.label("actor_email"))
        .select_from(m.audit_log.outerjoin(m.agents, ag.id == a.actor_id))
        .where(a.tenant_id == tenant_id)
        .order_by(a.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        q = q.where(a.id < _decode(cursor))
    rows = (await conn.execute(q)).all()
    items = [audit_json(r._mapping) for r in rows[:limit]]
    return {"items": items, "next_cursor": _encode(rows[limit - 1].id) if len(rows) > limit else None}


def audit_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    actor_id = row["actor_id"]
    return {
        "id": row["id"],
        "action": row["action"],
        "actor": None
        if actor_id is None
        else {"id": actor_id, "name": row.get("actor_name"), "email": row.get("actor_email")},
        "target": None
        if row["target_type"] is None
        else {"type": row["target_type"], "id": row["target_id"]},
        "details": row["details"] or {},
        "address": row["address"],
        "created_at": iso(row["created_at"]),
    }

"""Login protection: failed logins counted per email and per remote address over a sliding window, in
the database (so every process shares the counts); past the limit a login is refused with 429 before
the password is even checked. Owns the `login_failures` rows; must not decide who is logged in (that
is `inbox.actions.sessions`) and never stores a password or a token.

Two logins racing in separate processes may both pass the check before either failure is written,
so a burst can exceed the limit by the number of concurrent attempts: bounded, and argon2 makes each
one slow. Successful logins write nothing; they forget the email's failures (not the address's, or
an attacker with one valid account could reset the address limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import audit
from inbox import models as m
from inbox.config import Settings
from inbox.errors import ActionError, NotFound
from inbox.uow import UnitOfWork

lf = m.login_failures.c
SCOPES = ("email", "address")


class TooManyAttempts(ActionError):
    status = 429

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed logins; try again later")
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True)
class Key:
    scope: str  # email | address
    key: str


def keys(email: str, address: str) -> list[Key]:
    return [Key("email", email.strip().lower()[:320]), Key("address", address[:320])]


def _window(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.login_window_seconds)


def _limit(settings: Settings, scope: str) -> int:
    return settings.login_max_failures_email if scope == "email" else settings.login_max_failures_address


async def locked_until(conn: AsyncConnection, settings: Settings, k: Key, now: datetime) -> datetime | None:
    """When `k` may try again, if it is locked now: its `limit`-th newest failure in the window
    leaving the window brings it below the limit."""
    limit = _limit(settings, k.scope)
    newest = (
        await conn.execute(
            select(lf.created_at)
            .where(lf.scope == k.scope, lf.key == k.key, lf.created_at > now - _window(settings))
            .order_by(lf.created_at.desc())
            .limit(limit)
        )
    ).scalars()
    times = list(newest)
    if len(times) < limit:
        return None
    return times[-1] + _window(settings)


async def check(conn: AsyncConnection, settings: Settings, email: str, address: str) -> None:
    """Raises TooManyAttempts while the email or the address is locked out."""
    now = m.utcnow()
    until = [u for k in keys(email, address) if (u := await locked_until(conn, settings, k, now))]
    if until:
        raise TooManyAttempts((max(until) - now).total_seconds())


async def record_failure(uow: UnitOfWork, email: str, address: str) -> None:
    """One failed login: a row per key, and the rows that left the window swept."""
    now = m.utcnow()
    tenant_id = (
        await uow.conn.execute(select(m.agents.c.tenant_id).where(m.agents.c.email == email.strip().lower()))
    ).scalar()
    rows = [dict(scope=k.scope, key=k.key, tenant_id=tenant_id, created_at=now) for k in keys(email, address)]
    await uow.conn.execute(insert(m.login_failures), rows)
    expired = lf.created_at <= now - _window(uow.runtime.settings)
    await uow.conn.execute(delete(m.login_failures).where(expired))


async def forget_email(uow: UnitOfWork, email: str) -> None:
    """A successful login: the email's failures no longer count."""
    k = keys(email, "")[0]
    await uow.conn.execute(delete(m.login_failures).where(lf.scope == k.scope, lf.key == k.key))


def _visible(tenant_id: int) -> Any:
    """The failures an admin of `tenant_id` sees: those on its agents' emails (also from before the
    email was an agent's)."""
    ours = select(m.agents.c.email).where(m.agents.c.tenant_id == tenant_id)
    return or_(lf.tenant_id == tenant_id, and_(lf.scope == "email", lf.key.in_(ours)))


async def lockouts(conn: AsyncConnection, settings: Settings, tenant_id: int) -> list[dict[str, Any]]:
    """The emails and addresses locked out now that involve the tenant's agents, newest first."""
    now = m.utcnow()
    rows = (
        await conn.execute(
            select(lf.scope, lf.key)
            .where(_visible(tenant_id), lf.created_at > now - _window(settings))
            .group_by(lf.scope, lf.key)
        )
    ).all()
    out = []
    for scope, key in rows:
        k = Key(scope, key)
        until = await locked_until(conn, settings, k, now)
        if until is None:
            continue
        failures, last = (
            await conn.execute(
                select(func.count(), type_coerce(func.max(lf.created_at), m.UTCDateTime())).where(
                    lf.scope == scope, lf.key == key, lf.created_at > now - _window(settings)
                )
            )
        ).one()
        out.append(
            {
                "scope": scope,
                "key": key,
                "failures": failures,
                "last_failure_at": last,
                "locked_until": until,
            }
        )
    out.sort(key=lambda lo: lo["last_failure_at"], reverse=True)
    return out


async def clear(uow: UnitOfWork, tenant_id: int, scope: str, key: str) -> int:
    """An admin lifts a lockout: the failures it can see on that key are forgotten (an address's
    failures on other tenants' emails stay: they are not this admin's to forgive). 404 when it sees
    none."""
    where = and_(lf.scope == scope, lf.key == key, _visible(tenant_id))
    gone = (await uow.conn.execute(delete(m.login_failures).where(where))).rowcount
    if not gone:
        raise NotFound("no such lockout")
    await audit.record(
        uow, tenant_id, "lockout.cleared", details={"scope": scope, "key": key, "failures": gone}
    )
    return int(gone)

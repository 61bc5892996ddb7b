"""Login and logout: opaque bearer tokens, stored hashed, with an expiry. Logging in also brings the
agent back to the status it last chose (inbox/actions/presence.py, `arrive`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select

from inbox import audit
from inbox import models as m
from inbox.actions import presence
from inbox.auth import new_token, token_hash, ttl, verify_password
from inbox.errors import Unauthenticated
from inbox.uow import UnitOfWork


async def login(uow: UnitOfWork, email: str, password: str) -> dict[str, Any]:
    row = (
        await uow.conn.execute(
            select(m.agents).where(
                m.agents.c.email == email.strip().lower(), m.agents.c.disabled_at.is_(None)
            )
        )
    ).first()
    # verify_password checks a dummy hash for unknown emails: same cost, no user enumeration.
    if not verify_password(row.password_hash if row else None, password) or row is None:
        raise Unauthenticated("wrong email or password", code="login_failed")
    token = await issue_token(uow, row.tenant_id, row.id)
    await audit.record(
        uow,
        row.tenant_id,
        "auth.login",
        target_type="agent",
        target_id=row.id,
        actor=audit.Actor(row.id, audit.current().address),
    )
    agent = await presence.arrive(uow, row.tenant_id, row.id)
    # Online without an inbox open (a script's login) would draw conversations to nobody: unless a
    # socket of this agent opens within the presence grace, in any process, it goes offline again.
    rt, tenant_id, agent_id = uow.runtime, row.tenant_id, row.id
    uow.after_commit(lambda: rt.hub.presence.expect(tenant_id, agent_id))
    return {"token": token, "agent": agent}


async def issue_token(uow: UnitOfWork, tenant_id: int, agent_id: int) -> str:
    """A new bearer token for the agent (tests sign agents in with it, without a login's effects)."""
    token = new_token()
    now = m.utcnow()
    await uow.conn.execute(
        insert(m.auth_tokens).values(
            tenant_id=tenant_id,
            agent_id=agent_id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + ttl(uow.runtime.settings.token_ttl_hours),
        )
    )
    # Expired tokens of this agent are swept here rather than by a job.
    await uow.conn.execute(
        delete(m.auth_tokens).where(m.auth_tokens.c.agent_id == agent_id, m.auth_tokens.c.expires_at <= now)
    )
    return token


async def login_failed(uow: UnitOfWork, email: str, address: str | None) -> None:
    """A failed login, filed under the tenant of the agent the email names (none when unknown)."""
    email = email.strip().lower()[:320]
    found = (
        await uow.conn.execute(select(m.agents.c.id, m.agents.c.tenant_id).where(m.agents.c.email == email))
    ).first()
    await audit.record(
        uow,
        found.tenant_id if found else None,
        "auth.login_failed",
        target_type="agent" if found else None,
        target_id=found.id if found else None,
        details={"email": email},
        actor=audit.Actor(None, address),
    )


async def logout(uow: UnitOfWork, token: str) -> None:
    await uow.conn.execute(delete(m.auth_tokens).where(m.auth_tokens.c.token_hash == token_hash(token)))

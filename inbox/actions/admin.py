"""Tenants, agents, channels, queues: create, list, disable. Used by the CLI and the admin API."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from channels.registry import adapter_class, kinds, providers, providers_of
from inbox import audit
from inbox import models as m
from inbox.actions.events import agent_event
from inbox.auth import ROLES, hash_password
from inbox.errors import Conflict, Invalid, NotFound
from inbox.serialize import AgentData, agent_json, channel_json
from inbox.uow import UnitOfWork

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


async def create_tenant(uow: UnitOfWork, name: str) -> dict[str, Any]:
    name = name.strip()
    if not name:
        raise Invalid("tenant name must not be empty")
    row = (
        await uow.conn.execute(
            insert(m.tenants).values(name=name, settings={}, created_at=m.utcnow()).returning(m.tenants)
        )
    ).one()
    await audit.record(
        uow, row.id, "tenant.created", target_type="tenant", target_id=row.id, details={"name": name}
    )
    return {"id": row.id, "name": row.name, "created_at": row.created_at.isoformat()}


async def _tenant_exists(uow: UnitOfWork, tenant_id: int) -> None:
    found = (await uow.conn.execute(select(m.tenants.c.id).where(m.tenants.c.id == tenant_id))).first()
    if found is None:
        raise NotFound(f"unknown tenant {tenant_id}")


async def create_agent(
    uow: UnitOfWork,
    tenant_id: int,
    *,
    email: str,
    name: str,
    password: str,
    role: str,
    capacity: int = 5,
) -> AgentData:
    email = email.strip().lower()
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not _EMAIL.match(email):
        raise Invalid(f"not an email address: {email!r}")
    if len(password) < 8:
        raise Invalid("password must have at least 8 characters", code="password_short")
    if capacity < 0:
        raise Invalid("capacity must be zero or more", code="capacity_negative")
    if not name.strip():
        raise Invalid("agent name must not be empty")
    await _tenant_exists(uow, tenant_id)
    taken = (await uow.conn.execute(select(m.agents.c.id).where(m.agents.c.email == email))).first()
    if taken is not None:
        raise Conflict(f"an agent with email {email} already exists", code="email_taken")
    try:
        row = (
            await uow.conn.execute(
                insert(m.agents)
                .values(
                    tenant_id=tenant_id,
                    email=email,
                    name=name.strip(),
                    password_hash=hash_password(password),
                    role=role,
                    capacity=capacity,
                    status="offline",
                    created_at=m.utcnow(),
                )
                .returning(m.agents)
            )
        ).one()
    except IntegrityError as exc:  # a concurrent create with the same email
        raise Conflict(f"an agent with email {email} already exists", code="email_taken") from exc
    data = agent_json(row._mapping, open_conversations=0)
    uow.emit(tenant_id, agent_event(data))
    await audit.record(
        uow,
        tenant_id,
        "agent.created",
        target_type="agent",
        target_id=row.id,
        details={"email": email, "name": row.name, "role": role, "capacity": capacity},
    )
    return data


async def list_agents(uow: UnitOfWork, tenant_id: int) -> list[AgentData]:
    await _tenant_exists(uow, tenant_id)
    rows = await uow.conn.execute(select(m.agents).where(m.agents.c.tenant_id == tenant_id).order_by("id"))
    return [agent_json(r._mapping) for r in rows]


async def disable_agent(uow: UnitOfWork, tenant_id: int, agent_id: int) -> AgentData:
    row = (
        await uow.conn.execute(
            update(m.agents)
            .where(m.agents.c.id == agent_id, m.agents.c.tenant_id == tenant_id)
            .values(disabled_at=func.coalesce(m.agents.c.disabled_at, m.utcnow()), status="offline")
            .returning(m.agents)
        )
    ).first()
    if row is None:
        raise NotFound(f"unknown agent {agent_id} in tenant {tenant_id}")
    # A disabled agent's sessions end now.
    from sqlalchemy import delete

    await uow.conn.execute(delete(m.auth_tokens).where(m.auth_tokens.c.agent_id == agent_id))
    data = agent_json(row._mapping)
    uow.emit(tenant_id, agent_event(data))
    await audit.record(uow, tenant_id, "agent.disabled", target_type="agent", target_id=agent_id)
    return data


async def list_tenants(uow: UnitOfWork) -> list[dict[str, Any]]:
    rows = await uow.conn.execute(select(m.tenants.c.id, m.tenants.c.name).order_by(m.tenants.c.id))
    return [{"id": r.id, "name": r.name} for r in rows]


async def create_channel(
    uow: UnitOfWork,
    tenant_id: int,
    *,
    kind: str,
    provider: str,
    name: str,
    external_id: str | None,
    secrets_: dict[str, str],
    bot: bool = False,
    queue_id: int | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if kind not in kinds():
        raise Invalid(f"kind must be one of {', '.join(kinds())}, not {kind!r}")
    adapter = adapter_class(provider)
    if adapter is None:
        raise Invalid(f"provider must be one of {', '.join(providers())}, not {provider!r}")
    if kind not in adapter.kinds:
        raise Invalid(f"{kind} is only available through {', '.join(providers_of(kind))}")
    if not name.strip():
        raise Invalid("channel name must not be empty")
    required = [o for o in adapter.options if o.required]
    missing = [o.flag for o in required if o.target == "secret" and not secrets_.get(o.name)]
    if missing:
        raise Invalid(f"{provider} channels need {', '.join(missing)}")
    if not external_id:
        flag = next((o.flag for o in required if o.target == "external_id"), "an external id")
        raise Invalid(f"{provider} channels need {flag}")
    await _tenant_exists(uow, tenant_id)
    if queue_id is not None:
        q = select(m.queues.c.id).where(m.queues.c.id == queue_id, m.queues.c.tenant_id == tenant_id)
        if (await uow.conn.execute(q)).first() is None:
            raise NotFound(f"unknown queue {queue_id}")
    row = (
        await uow.conn.execute(
            insert(m.channels)
            .values(
                tenant_id=tenant_id,
                kind=kind,
                provider=provider,
                name=name.strip(),
                webhook_key=secrets.token_urlsafe(24),
                external_id=external_id,
                secrets=uow.runtime.box.seal(secrets_),
                settings=settings or {},
                bot_enabled=bot,
                queue_id=queue_id,
                created_at=m.utcnow(),
            )
            .returning(m.channels)
        )
    ).one()
    await audit.record(
        uow,
        tenant_id,
        "channel.created",
        target_type="channel",
        target_id=row.id,
        # Which secrets were given, never their values.
        details={
            "kind": kind,
            "provider": provider,
            "name": row.name,
            "external_id": external_id,
            "secrets_given": sorted(k for k, v in secrets_.items() if v),
        },
    )
    return channel_json(row._mapping)


async def list_channels(uow: UnitOfWork, tenant_id: int) -> list[dict[str, Any]]:
    await _tenant_exists(uow, tenant_id)
    rows = await uow.conn.execute(
        select(m.channels).where(m.channels.c.tenant_id == tenant_id).order_by(m.channels.c.id)
    )
    return [channel_json(r._mapping) for r in rows]


async def update_channel(uow: UnitOfWork, tenant_id: int, channel_id: int, **values: Any) -> dict[str, Any]:
    """Change `bot_enabled`, `disabled_at`, `queue_id`, `name` or `settings` of a channel."""
    allowed = {"bot_enabled", "disabled_at", "queue_id", "name", "settings"}
    unknown = set(values) - allowed
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))}")
    row = (
        await uow.conn.execute(
            update(m.channels)
            .where(m.channels.c.id == channel_id, m.channels.c.tenant_id == tenant_id)
            .values(**values)
            .returning(m.channels)
        )
    ).first()
    if row is None:
        raise NotFound(f"unknown channel {channel_id} in tenant {tenant_id}")
    uow.after_commit(lambda: uow.runtime.directory.forget(row.webhook_key))
    await audit.record(
        uow, tenant_id, "channel.updated", target_type="channel", target_id=channel_id, details=values
    )
    return channel_json(row._mapping)


async def create_queue(uow: UnitOfWork, tenant_id: int, name: str) -> dict[str, Any]:
    await _tenant_exists(uow, tenant_id)
    try:
        row = (
            await uow.conn.execute(
                insert(m.queues)
                .values(tenant_id=tenant_id, name=name.strip(), created_at=m.utcnow())
                .returning(m.queues)
            )
        ).one()
    except IntegrityError as exc:
        raise Conflict(
            f"a queue named {name!r} already exists", code="name_taken", params={"field": "name"}
        ) from exc
    await audit.record(
        uow, tenant_id, "queue.created", target_type="queue", target_id=row.id, details={"name": row.name}
    )
    return {"id": row.id, "name": row.name}


async def add_queue_member(uow: UnitOfWork, tenant_id: int, queue_id: int, agent_id: int) -> None:
    q = select(m.queues.c.id).where(m.queues.c.id == queue_id, m.queues.c.tenant_id == tenant_id)
    a = select(m.agents.c.id).where(m.agents.c.id == agent_id, m.agents.c.tenant_id == tenant_id)
    if (await uow.conn.execute(q)).first() is None:
        raise NotFound(f"unknown queue {queue_id}")
    if (await uow.conn.execute(a)).first() is None:
        raise NotFound(f"unknown agent {agent_id}")
    exists = select(m.queue_members.c.agent_id).where(
        m.queue_members.c.queue_id == queue_id, m.queue_members.c.agent_id == agent_id
    )
    if (await uow.conn.execute(exists)).first() is None:
        await uow.conn.execute(
            insert(m.queue_members).values(queue_id=queue_id, agent_id=agent_id, tenant_id=tenant_id)
        )
        await audit.record(
            uow,
            tenant_id,
            "queue.member_added",
            target_type="queue",
            target_id=queue_id,
            details={"agent_id": agent_id},
        )


async def first_run(uow: UnitOfWork) -> dict[str, Any] | None:
    """On an empty database: a first tenant and admin with a generated password (returned once)."""
    if (await uow.conn.execute(select(m.tenants.c.id).limit(1))).first() is not None:
        return None
    tenant = await create_tenant(uow, "My business")
    password = secrets.token_urlsafe(12)
    agent = await create_agent(
        uow, tenant["id"], email="admin@example.com", name="Admin", password=password, role="admin"
    )
    return {"tenant": tenant, "agent": agent, "password": password}

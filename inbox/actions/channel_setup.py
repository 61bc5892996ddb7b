"""Channel writes of account setup: an imported channel (idempotent on the provider's channel id), a
channel's account token, a new webhook key.

Owns these writes and their audit rows; it never calls a provider (inbox/account_setup.py does, outside
any transaction) and never returns a secret.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select, update

from inbox import audit
from inbox import models as m
from inbox.actions.admin import create_channel
from inbox.errors import NotFound
from inbox.serialize import channel_json
from inbox.uow import UnitOfWork

ch = m.channels.c


async def _lock_tenant(uow: UnitOfWork, tenant_id: int) -> None:
    """Serialize imports of one tenant: a write on its row takes the row lock on PostgreSQL and the
    database's write lock on SQLite, so two concurrent imports cannot both miss a channel and create
    it twice (there is no unique key on a provider's channel id: two inbox channels may share one)."""
    done = await uow.conn.execute(
        update(m.tenants).where(m.tenants.c.id == tenant_id).values(settings=m.tenants.c.settings)
    )
    if done.rowcount == 0:
        raise NotFound(f"unknown tenant {tenant_id}")


async def import_channel(
    uow: UnitOfWork,
    tenant_id: int,
    *,
    provider: str,
    kind: str,
    name: str,
    external_id: str,
    secret_name: str,
    token: str,
) -> tuple[dict[str, Any], bool]:
    """The tenant's channel for the provider's channel `external_id`: created on the first import
    (-> created True), else found, with its account token replaced when it changed."""
    await _lock_tenant(uow, tenant_id)
    row = (
        await uow.conn.execute(
            select(m.channels)
            .where(ch.tenant_id == tenant_id, ch.provider == provider, ch.external_id == external_id)
            .order_by(ch.id)
            .limit(1)
        )
    ).first()
    if row is None:
        data = await create_channel(
            uow,
            tenant_id,
            kind=kind,
            provider=provider,
            name=name,
            external_id=external_id,
            secrets_={secret_name: token},
        )
        return data, True
    stored = uow.runtime.box.open(row.secrets)
    if stored.get(secret_name) != token:
        sealed = uow.runtime.box.seal({**stored, secret_name: token})
        await uow.conn.execute(update(m.channels).where(ch.id == row.id).values(secrets=sealed))
        uow.after_commit(lambda: uow.runtime.directory.forget(row.webhook_key))
        await audit.record(
            uow,
            tenant_id,
            "channel.secret_replaced",
            target_type="channel",
            target_id=row.id,
            details={"replaced": secret_name},
        )
    return channel_json(row._mapping), False


async def rotate_webhook_key(uow: UnitOfWork, tenant_id: int, channel_id: int) -> dict[str, Any]:
    """A new webhook key: the old URL answers 404 from now on (other processes' lookup caches
    forget it within seconds, inbox/directory.py)."""
    old = (
        await uow.conn.execute(select(ch.webhook_key).where(ch.id == channel_id, ch.tenant_id == tenant_id))
    ).scalar()
    if old is None:
        raise NotFound(f"unknown channel {channel_id}")
    row = (
        await uow.conn.execute(
            update(m.channels)
            .where(ch.id == channel_id, ch.tenant_id == tenant_id)
            .values(webhook_key=secrets.token_urlsafe(24))
            .returning(m.channels)
        )
    ).one()
    uow.after_commit(lambda: uow.runtime.directory.forget(old))
    await audit.record(
        uow, tenant_id, "channel.webhook_key_rotated", target_type="channel", target_id=channel_id
    )
    return channel_json(row._mapping)


async def record(uow: UnitOfWork, tenant_id: int, action: str, **details: Any) -> None:
    """An audit row for a setup step that wrote nothing else (an account import's summary, a test send)."""
    target = details.pop("channel_id", None)
    await audit.record(
        uow, tenant_id, action, target_type="channel" if target else None, target_id=target, details=details
    )

"""Outgoing webhook subscriptions: what admins do (create, change, enable, disable, delete) and what a
delivery's outcome does to a subscription (inbox/workers/hooks.py calls these).

Owns the subscription's state rules: a new subscription starts at the tenant's current event, so it
receives what happens from now on; a secret is generated here, sealed, and handed back once;
enabling resets the failure state; a subscription that has failed without a success for
`webhook_disable_after` seconds is disabled with a reason and an audit entry. Every outcome is
written only while the caller still holds the subscription's lease at the cursor it read
(`_held`): the cursor moves in the transaction that records the delivery, so a (subscription,
event) is recorded delivered once, whatever two processes do. Never publishes events or calls out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Row

from inbox import audit, hooks
from inbox import models as m
from inbox.errors import NotFound, Unprocessable
from inbox.serialize import iso
from inbox.uow import UnitOfWork

ws, wd = m.webhook_subscriptions.c, m.webhook_deliveries.c
KEEP_DELIVERIES = 200  # attempts kept per subscription for the admin page
DELIVERIES_PAGE = 50


def subscription_json(row: Any) -> dict[str, Any]:
    """A subscription as admins see it. Never the secret."""
    return {
        "id": row.id,
        "url": row.url,
        "events": hooks.parse_events(row.events),
        "enabled": bool(row.enabled),
        "disabled_at": iso(row.disabled_at),
        "disabled_reason": row.disabled_reason,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "last_attempt_at": iso(row.last_attempt_at),
        "last_success_at": iso(row.last_success_at),
        "consecutive_failures": row.consecutive_failures,
        "failing_since": iso(row.failing_since),
        "next_attempt_at": iso(row.next_attempt_at) if row.consecutive_failures else None,
        "delivered": int(row.delivered),
        "skipped": int(row.skipped),
        "cursor": int(row.cursor),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def delivery_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "delivery_id": hooks.delivery_id(row.subscription_id, row.seq),
        "seq": row.seq,
        "type": row.event_type,
        "attempt": row.attempt,
        "outcome": row.outcome,
        "status_code": row.status_code,
        "error": row.error,
        "duration_ms": row.duration_ms,
        "created_at": iso(row.created_at),
    }


def _check(url: str | None, events: list[str] | None) -> None:
    if url is not None and (problem := hooks.url_problem(url)):
        raise Unprocessable(f"url: {problem}")
    if events is not None and (problem := hooks.events_problem(events)):
        raise Unprocessable(f"events: {problem}")


async def create(
    uow: UnitOfWork, tenant_id: int, agent_id: int | None, url: str, events: list[str]
) -> tuple[dict[str, Any], str]:
    """A new subscription and its secret (shown once: only a sealed copy is kept)."""
    url = url.strip()
    events = sorted(set(events))
    _check(url, events)
    secret = hooks.new_secret()
    now = m.utcnow()
    last_seq = (
        await uow.conn.execute(select(m.tenants.c.last_seq).where(m.tenants.c.id == tenant_id))
    ).scalar_one()
    row = (
        await uow.conn.execute(
            insert(m.webhook_subscriptions)
            .values(
                tenant_id=tenant_id,
                url=url,
                events=events,
                secret=uow.runtime.box.seal({"secret": secret}),
                enabled=True,
                cursor=last_seq,
                next_attempt_at=now,
                created_by=agent_id,
                created_at=now,
                updated_at=now,
            )
            .returning(m.webhook_subscriptions)
        )
    ).one()
    await audit.record(
        uow,
        tenant_id,
        "webhook.created",
        target_type="webhook",
        target_id=row.id,
        details={"url": url, "events": events},
    )
    return subscription_json(row), secret


async def mine(uow: UnitOfWork, tenant_id: int, sub_id: int) -> Row[Any]:
    row = (
        await uow.conn.execute(
            select(m.webhook_subscriptions).where(ws.id == sub_id, ws.tenant_id == tenant_id)
        )
    ).first()
    if row is None:
        raise NotFound("webhook not found")
    return row


async def get(uow: UnitOfWork, tenant_id: int, sub_id: int) -> dict[str, Any]:
    return subscription_json(await mine(uow, tenant_id, sub_id))


async def list_(uow: UnitOfWork, tenant_id: int) -> list[dict[str, Any]]:
    rows = await uow.conn.execute(
        select(m.webhook_subscriptions).where(ws.tenant_id == tenant_id).order_by(ws.id)
    )
    return [subscription_json(r) for r in rows]


async def change(
    uow: UnitOfWork,
    tenant_id: int,
    sub_id: int,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """Change the URL or event types, enable (which resets the failure state: the subscription goes
    on from where it stopped) or disable (by an admin)."""
    url = url.strip() if url is not None else None
    events = sorted(set(events)) if events is not None else None
    _check(url, events)
    row = await mine(uow, tenant_id, sub_id)
    now = m.utcnow()
    values: dict[str, Any] = {"updated_at": now}
    details: dict[str, Any] = {}
    if url is not None and url != row.url:
        values["url"] = details["url"] = url
    if events is not None and events != hooks.parse_events(row.events):
        values["events"] = details["events"] = events
    if enabled is True and not row.enabled:
        values.update(
            enabled=True,
            disabled_at=None,
            disabled_reason=None,
            consecutive_failures=0,
            failing_since=None,
            next_attempt_at=now,
        )
        details["enabled"] = True
    elif enabled is False and row.enabled:
        values.update(enabled=False, disabled_at=now, disabled_reason="disabled by an admin")
        details["enabled"] = False
    if details:
        await uow.conn.execute(update(m.webhook_subscriptions).where(ws.id == sub_id).values(**values))
        await audit.record(
            uow, tenant_id, "webhook.changed", target_type="webhook", target_id=sub_id, details=details
        )
    return subscription_json(await mine(uow, tenant_id, sub_id))


async def remove(uow: UnitOfWork, tenant_id: int, sub_id: int) -> None:
    row = await mine(uow, tenant_id, sub_id)
    await uow.conn.execute(delete(m.webhook_subscriptions).where(ws.id == sub_id))
    await audit.record(
        uow, tenant_id, "webhook.deleted", target_type="webhook", target_id=sub_id, details={"url": row.url}
    )


async def deliveries(uow: UnitOfWork, tenant_id: int, sub_id: int) -> list[dict[str, Any]]:
    """The subscription's recent attempts, newest first."""
    await mine(uow, tenant_id, sub_id)
    rows = await uow.conn.execute(
        select(m.webhook_deliveries)
        .where(wd.subscription_id == sub_id, wd.tenant_id == tenant_id)
        .order_by(wd.id.desc())
        .limit(DELIVERIES_PAGE)
    )
    return [delivery_json(r) for r in rows]


# --- what the worker records ----------------------------------------------------------------------


def _held(sub_id: int, lease: str, cursor: int) -> Any:
    """The subscription is still ours, at the cursor we read: nobody recorded anything since."""
    return and_(ws.id == sub_id, ws.lease == lease, ws.cursor == cursor)


async def delivered(
    uow: UnitOfWork,
    sub: Row[Any],
    lease: str,
    cursor: int,
    seq: int,
    type_: str,
    outcome: hooks.Outcome,
    lease_for: timedelta,
) -> bool:
    """Event `seq` reached the receiver: the cursor moves to it, the failure state clears, the lease
    is renewed (each outcome extends it, so a long batch keeps it). False: the lease was lost."""
    now = m.utcnow()
    done = await uow.conn.execute(
        update(m.webhook_subscriptions)
        .where(_held(sub.id, lease, cursor))
        .values(
            cursor=seq,
            consecutive_failures=0,
            failing_since=None,
            last_status=outcome.status,
            last_error=None,
            last_attempt_at=now,
            last_success_at=now,
            delivered=ws.delivered + 1,
            locked_until=now + lease_for,
        )
    )
    if done.rowcount != 1:
        return False
    await _attempt(uow, sub, seq, type_, 1 + sub.consecutive_failures if cursor == sub.cursor else 1, outcome)
    return True


async def failed(
    uow: UnitOfWork,
    sub: Row[Any],
    lease: str,
    cursor: int,
    seq: int,
    type_: str,
    outcome: hooks.Outcome,
    retry_in: float,
    disable_after: float,
) -> bool:
    """Event `seq` did not get through: retried after `retry_in` seconds (the lease is handed back);
    past `disable_after` seconds of failing without a success the subscription is disabled."""
    now = m.utcnow()
    row = (
        await uow.conn.execute(
            update(m.webhook_subscriptions)
            .where(_held(sub.id, lease, cursor))
            .values(
                consecutive_failures=ws.consecutive_failures + 1,
                failing_since=func.coalesce(ws.failing_since, now),
                last_status=outcome.status,
                last_error=outcome.error,
                last_attempt_at=now,
                next_attempt_at=now + timedelta(seconds=retry_in),
                locked_until=None,
                lease=None,
            )
            .returning(ws.consecutive_failures, ws.failing_since)
        )
    ).first()
    if row is None:
        return False
    await _attempt(uow, sub, seq, type_, row.consecutive_failures, outcome)
    since: datetime = row.failing_since or now
    if (now - since).total_seconds() >= disable_after:
        reason = (
            f"disabled automatically: no delivery succeeded since {iso(since)} "
            f"({row.consecutive_failures} failed attempts; last: {outcome.error})"
        )
        await uow.conn.execute(
            update(m.webhook_subscriptions)
            .where(ws.id == sub.id)
            .values(enabled=False, disabled_at=now, disabled_reason=reason, updated_at=now)
        )
        await audit.record(
            uow,
            sub.tenant_id,
            "webhook.disabled",
            target_type="webhook",
            target_id=sub.id,
            details={"url": sub.url, "reason": reason},
            actor=audit.Actor(None, None),
        )
    return True


async def advance(uow: UnitOfWork, sub_id: int, lease: str, cursor: int, to: int, skipped: int = 0) -> bool:
    """Move past events this subscription does not want (or, `skipped`, that retention removed)."""
    values: dict[str, Any] = {"cursor": to}
    if skipped:
        values["skipped"] = ws.skipped + skipped
    done = await uow.conn.execute(
        update(m.webhook_subscriptions).where(_held(sub_id, lease, cursor)).values(**values)
    )
    return done.rowcount == 1


async def release(uow: UnitOfWork, sub_id: int, lease: str) -> None:
    """Hand the subscription back (end of a batch, or shutting down mid-call) and trim its attempts."""
    await uow.conn.execute(
        update(m.webhook_subscriptions)
        .where(ws.id == sub_id, ws.lease == lease)
        .values(locked_until=None, lease=None)
    )
    oldest_kept = (
        select(wd.id)
        .where(wd.subscription_id == sub_id)
        .order_by(wd.id.desc())
        .offset(KEEP_DELIVERIES - 1)
        .limit(1)
        .scalar_subquery()
    )
    await uow.conn.execute(
        delete(m.webhook_deliveries).where(wd.subscription_id == sub_id, wd.id < oldest_kept)
    )


async def _attempt(
    uow: UnitOfWork, sub: Row[Any], seq: int, type_: str, attempt: int, o: hooks.Outcome
) -> None:
    await uow.conn.execute(
        insert(m.webhook_deliveries).values(
            tenant_id=sub.tenant_id,
            subscription_id=sub.id,
            seq=seq,
            event_type=type_,
            attempt=attempt,
            outcome="delivered" if o.ok else "failed",
            status_code=o.status,
            error=o.error,
            duration_ms=o.duration_ms,
            created_at=m.utcnow(),
        )
    )

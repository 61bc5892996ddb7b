"""Helpers of the automations tests: templates and automations made over the API, runs read from the
database, and a run decided now (its due time brought forward) as the jobs worker would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from inbox import models as m
from inbox.automations import execute, watch
from tests.support import App, Tenant

rn = m.automation_runs.c


async def template(
    tenant: Tenant, body: str, *, provider: dict[str, str] | None = None, name: str = ""
) -> int:
    payload: dict[str, Any] = {"name": name or f"t-{abs(hash(body)) % 10**8}", "body": body}
    if provider is not None:
        payload["provider_template"] = provider
    r = await tenant.admin.http.post("/api/templates", json=payload)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def automation(tenant: Tenant, trigger: str, template_id: int, **fields: Any) -> dict[str, Any]:
    body = {"name": f"{trigger} {template_id} {len(fields)}", "trigger": trigger, "template_id": template_id,
            "enabled": True, **fields}  # fmt: skip
    r = await tenant.admin.http.post("/api/automations", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def runs(app: App, automation_id: int) -> list[Any]:
    async with app.runtime.engine.connect() as conn:
        q = select(m.automation_runs).where(rn.automation_id == automation_id).order_by(rn.id)
        return list((await conn.execute(q)).all())


async def job_of(app: App, run_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        q = select(m.jobs).where(m.jobs.c.kind == "automation", m.jobs.c.key == str(run_id))
        return (await conn.execute(q)).first()


async def fire(app: App, run_id: int) -> str | None:
    """Decide the run now (due time brought forward), as the jobs worker does when it is due."""
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            update(m.automation_runs)
            .where(rn.id == run_id, rn.status == "pending")
            .values(due_at=m.utcnow() - timedelta(seconds=1))
        )
    async with app.runtime.uow() as uow:
        return await execute.decide(uow, run_id)


async def scan(app: App) -> int:
    """One pass of the watcher over new leads."""
    return await watch.new_leads(app.runtime)


async def run_row(app: App, run_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(select(m.automation_runs).where(rn.id == run_id))).one()


async def message_of(app: App, message_id: int) -> Any:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(select(m.messages).where(m.messages.c.id == message_id))).one()

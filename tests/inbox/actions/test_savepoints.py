"""Savepoints inside a unit of work (labels and canned responses use them for their unique names):
what they write is the unit of work's, committed or undone with it, on both databases. On SQLite a
SAVEPOINT that opened the transaction used to commit on release (pysqlite begins only before DML)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inbox import models as m
from inbox.actions import labels
from inbox.errors import Conflict
from tests.support import App


async def _names(app: App, tenant_id: int) -> list[str]:
    async with app.runtime.uow() as uow:
        rows = await uow.conn.execute(
            select(m.labels.c.name).where(m.labels.c.tenant_id == tenant_id).order_by(m.labels.c.name)
        )
        return list(rows.scalars())


async def test_a_savepoint_that_comes_first_is_undone_with_its_unit_of_work(app: App) -> None:
    tenant = await app.tenant()
    with pytest.raises(RuntimeError):
        async with app.runtime.uow() as uow:
            await labels.create(uow, tenant.id, "VIP", "#ff0000")
            raise RuntimeError("the unit of work fails after the label")
    assert await _names(app, tenant.id) == []


async def test_a_refused_savepoint_keeps_the_rest_of_its_unit_of_work(app: App) -> None:
    tenant = await app.tenant()
    async with app.runtime.uow() as uow:
        await labels.create(uow, tenant.id, "A", "#ff0000")
        with pytest.raises(Conflict):
            await labels.create(uow, tenant.id, "A", "#00ff00")
        await labels.create(uow, tenant.id, "B", "#0000ff")
    assert await _names(app, tenant.id) == ["A", "B"]

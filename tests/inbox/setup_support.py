"""Helpers for the account-setup tests: a fake Notifica.me Hub with an account's channels, an app
whose adapters point at it (and at a fake Graph), and reading a tenant's audit rows raw."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from inbox import models as m
from inbox.config import Settings
from tests.fakes.graph import FakeGraph, graph_app
from tests.fakes.notificame import FakeNotificame, hub_channel, notificame_app
from tests.fakes.serve import serve
from tests.support import App, running_app

HUB_TOKEN = "hub-token-5f3a9c7e21"


@dataclass
class Setup:
    app: App
    hub: FakeNotificame
    hub_url: str
    graph: FakeGraph


@contextlib.asynccontextmanager
async def setup_app(settings: Settings, **changes: Any) -> AsyncIterator[Setup]:
    """An app (workers off) whose Notifica.me adapter talks to a fake Hub holding a WhatsApp, an
    Instagram, a Messenger and an unsupported network's channel, and whose Meta adapter talks to a
    fake Graph."""
    hub_app, hub = notificame_app(
        token=HUB_TOKEN,
        channels=[
            hub_channel("whatsapp", name="WhatsApp Clínica"),
            hub_channel("instagram", name="Instagram Clínica"),
            hub_channel("facebook", name="Messenger Clínica"),
            hub_channel("email", name="E-mail"),
        ],
    )
    g_app, graph = graph_app()
    async with serve(hub_app) as hub_url, serve(g_app) as graph_url:
        env = {"NOTIFICAME_API_URL": hub_url + "/v1", "META_GRAPH_URL": graph_url + "/v21.0"}
        async with running_app(settings.but(provider_env=env, **changes)) as app:
            yield Setup(app, hub, hub_url, graph)


async def audit_rows(app: App, tenant_id: int | None = None) -> list[Any]:
    """Every audit row (of one tenant, when given), as stored."""
    q = select(m.audit_log).order_by(m.audit_log.c.id)
    if tenant_id is not None:
        q = q.where(m.audit_log.c.tenant_id == tenant_id)
    async with app.runtime.engine.connect() as conn:
        return list((await conn.execute(q)).all())

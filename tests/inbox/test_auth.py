"""Login, tokens, expiry, logout, disabled agents."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from inbox import models as m
from inbox.actions import admin
from inbox.auth import token_hash
from tests.support import PASSWORD, App


async def test_login_success_and_failure(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    r = await app.http.post("/api/auth/login", json={"email": agent.email.upper(), "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["agent"]["id"] == agent.id and "password_hash" not in body["agent"]
    me = await app.client(body["token"]).get("/api/auth/me")
    assert me.json()["id"] == agent.id and me.json()["tenant_id"] == tenant.id

    for creds in (
        {"email": agent.email, "password": "wrong password"},
        {"email": "nobody@example.com", "password": PASSWORD},
    ):
        r = await app.http.post("/api/auth/login", json=creds)
        assert r.status_code == 401 and r.json()["error"] == "wrong email or password"
    assert (await app.http.post("/api/auth/login", content=b"nope")).status_code == 400
    assert (await app.http.post("/api/auth/login", json={"email": "a@b.c"})).status_code == 400


async def test_tokens_are_stored_hashed_and_expire(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    async with app.runtime.engine.connect() as conn:
        stored = (
            (
                await conn.execute(
                    select(m.auth_tokens.c.token_hash).where(m.auth_tokens.c.agent_id == agent.id)
                )
            )
            .scalars()
            .all()
        )
    assert agent.token not in stored and token_hash(agent.token) in stored
    assert (await agent.http.get("/api/conversations")).status_code == 200
    async with app.runtime.engine.begin() as conn:
        await conn.execute(
            update(m.auth_tokens)
            .where(m.auth_tokens.c.token_hash == token_hash(agent.token))
            .values(expires_at=m.utcnow() - timedelta(seconds=1))
        )
    r = await agent.http.get("/api/conversations")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_logout_ends_the_token(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    assert (await agent.http.post("/api/auth/logout")).status_code == 204
    assert (await agent.http.get("/api/conversations")).status_code == 401


async def test_missing_or_garbage_tokens(app: App) -> None:
    assert (await app.http.get("/api/conversations")).status_code == 401
    assert (await app.client("garbage").get("/api/conversations")).status_code == 401
    r = await app.http.get("/api/conversations", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_disabled_agent_cannot_log_in_or_use_its_token(app: App) -> None:
    tenant = await app.tenant()
    agent = await tenant.agent()
    async with app.runtime.uow() as uow:
        await admin.disable_agent(uow, tenant.id, agent.id)
    assert (await agent.http.get("/api/conversations")).status_code == 401
    r = await app.http.post("/api/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert r.status_code == 401

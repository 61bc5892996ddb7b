"""Login protection: failed logins per email and per remote address (every test client is 127.0.0.1),
429 with Retry-After past the limit even with the right password, visible to and cleared by the
tenant's admins only, and one limit across two app instances sharing a database."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from inbox import models as m
from inbox.config import Settings
from tests.databases import migrated_database
from tests.support import PASSWORD, Agent, App, running_app

WINDOW = 600.0
LIMITS = {"login_window_seconds": WINDOW, "login_max_failures_email": 3, "login_max_failures_address": 5}


@pytest.fixture(scope="module")
async def guard_db(backend_name: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database of the module's own: these tests lock 127.0.0.1 out, which would stop every other
    test's logins on the session database."""
    async with migrated_database(backend_name, tmp_path_factory.mktemp("lockouts")) as url:
        yield url


@contextlib.asynccontextmanager
async def guarded_app(settings: Settings, db: str) -> AsyncIterator[App]:
    async with running_app(settings.but(database_url=db, **LIMITS)) as app:
        yield app


@pytest.fixture
async def app2(settings: Settings, guard_db: str) -> AsyncIterator[App]:
    """An app on the module's database with no failures left from an earlier test."""
    async with guarded_app(settings, guard_db) as app:
        async with app.runtime.engine.begin() as conn:
            await conn.execute(delete(m.login_failures))
        yield app


async def login(app: App, email: str, password: str = PASSWORD) -> int:
    r = await app.http.post("/api/auth/login", json={"email": email, "password": password})
    if r.status_code == 429:
        assert 0 < int(r.headers["retry-after"]) <= WINDOW, r.headers
        assert "token" not in r.text
    return r.status_code


async def lockouts(admin: Agent) -> list[dict[str, object]]:
    r = await admin.http.get("/api/admin/lockouts")
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def failure_rows(app: App) -> int:
    async with app.runtime.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(m.login_failures))).scalar_one())


async def test_an_email_is_locked_out_even_with_the_right_password(app2: App) -> None:
    tenant = await app2.tenant()
    agent = await tenant.agent()
    for _ in range(3):
        assert await login(app2, agent.email, "wrong") == 401
    assert await login(app2, agent.email) == 429
    assert await login(app2, agent.email.upper()) == 429  # the same email however it is typed
    # The address is below its own limit: someone else at the same address logs in.
    other = await tenant.agent()
    assert await login(app2, other.email) == 200

    [lock] = await lockouts(tenant.admin)
    assert lock["scope"] == "email" and lock["key"] == agent.email and lock["failures"] == 3
    assert isinstance(lock["locked_until"], str) and isinstance(lock["last_failure_at"], str)
    r = await tenant.admin.http.post("/api/admin/lockouts/clear", json={"scope": "email", "key": agent.email})
    assert r.status_code == 200 and r.json() == {"cleared": 3}
    assert await lockouts(tenant.admin) == []
    assert await login(app2, agent.email) == 200
    # Audited: who lifted which lockout, from where.
    cleared = [
        i
        for i in (await tenant.admin.http.get("/api/audit")).json()["items"]
        if i["action"] == "lockout.cleared"
    ]
    assert len(cleared) == 1 and cleared[0]["actor"]["id"] == tenant.admin.id, cleared
    assert cleared[0]["details"] == {"scope": "email", "key": agent.email, "failures": 3}
    assert cleared[0]["address"] == "127.0.0.1"


async def test_failures_leave_the_window(app2: App) -> None:
    tenant = await app2.tenant()
    agent = await tenant.agent()
    for _ in range(3):
        assert await login(app2, agent.email, "wrong") == 401
    assert await login(app2, agent.email) == 429
    async with app2.runtime.engine.begin() as conn:  # as if the window had passed
        await conn.execute(
            update(m.login_failures).values(created_at=m.utcnow() - timedelta(seconds=WINDOW + 1))
        )
    assert await login(app2, agent.email) == 200


async def test_successful_logins_do_not_count(app2: App) -> None:
    tenant = await app2.tenant()
    agent = await tenant.agent()
    for _ in range(10):
        assert await login(app2, agent.email) == 200
    assert await failure_rows(app2) == 0
    # Two failures, a success (which forgets the email's failures), two more: still let in.
    for _ in range(2):
        assert await login(app2, agent.email, "wrong") == 401
    assert await login(app2, agent.email) == 200
    for _ in range(2):
        assert await login(app2, agent.email, "wrong") == 401
    assert await login(app2, agent.email) == 200


async def test_an_address_is_locked_out_and_only_our_admins_see_it(app2: App) -> None:
    ours, theirs = await app2.tenant("Ours"), await app2.tenant("Theirs")
    a1, a2, fresh = await ours.agent(), await ours.agent(), await ours.agent()
    for who in (a1, a1, a2, a2):  # each email below its limit of 3
        assert await login(app2, who.email, "wrong") == 401
    assert await login(app2, f"nobody-{secrets.token_hex(4)}@example.com", "wrong") == 401
    assert await login(app2, fresh.email) == 429  # 5 failures from 127.0.0.1: everyone there waits

    [lock] = await lockouts(ours.admin)
    assert lock["scope"] == "address" and lock["key"] == "127.0.0.1" and lock["failures"] == 5
    assert await lockouts(theirs.admin) == []  # none of their agents involved
    clear = {"scope": "address", "key": "127.0.0.1"}
    r = await theirs.admin.http.post("/api/admin/lockouts/clear", json=clear)
    assert r.status_code == 404, r.text
    assert await login(app2, fresh.email) == 429
    # Our admin forgives the failures on our agents (4); the unknown email's one stays.
    r = await ours.admin.http.post("/api/admin/lockouts/clear", json=clear)
    assert r.status_code == 200 and r.json() == {"cleared": 4}
    # Left: the emails' own failures (2 + 2, below their limit) and the unknown email's two rows.
    assert await failure_rows(app2) == 6
    assert await login(app2, fresh.email) == 200


async def test_admin_routes_check_role_and_input(app2: App) -> None:
    tenant = await app2.tenant()
    for role in ("agent", "supervisor"):
        who = await tenant.agent(role=role)
        assert (await who.http.get("/api/admin/lockouts")).status_code == 403
        r = await who.http.post("/api/admin/lockouts/clear", json={"scope": "email", "key": who.email})
        assert r.status_code == 403
    assert (await app2.http.get("/api/admin/lockouts")).status_code == 401
    for bad, field in (({"scope": "phone", "key": "x"}, "scope"), ({"scope": "email"}, "key")):
        r = await tenant.admin.http.post("/api/admin/lockouts/clear", json=bad)
        assert r.status_code == 400 and field in r.text, r.text
    r = await tenant.admin.http.post("/api/admin/lockouts/clear", json={"scope": "email", "key": "x@y.z"})
    assert r.status_code == 404


async def test_the_limit_holds_across_two_instances(settings: Settings, guard_db: str) -> None:
    async with guarded_app(settings, guard_db) as one, guarded_app(settings, guard_db) as two:
        async with one.runtime.engine.begin() as conn:
            await conn.execute(delete(m.login_failures))
        tenant = await one.tenant()
        agent = await tenant.agent()
        assert await login(one, agent.email, "wrong") == 401
        assert await login(two, agent.email, "wrong") == 401
        assert await login(one, agent.email, "wrong") == 401
        assert await login(two, agent.email) == 429
        assert await login(one, agent.email) == 429
        [lock] = await lockouts(tenant.admin)
        assert lock["failures"] == 3

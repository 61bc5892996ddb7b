"""Browser tests: Debian's Chromium driven by Playwright against a real app with workers on, a fake
Notifica.me, and a cuttable TCP proxy between the browser and the app (to drop the network for real).

Without /usr/bin/chromium these tests skip, unless INBOX_TEST_REQUIRE_BROWSER=1 (CI), which fails.
The UI does not depend on the database, so they run on one backend: PostgreSQL when configured
(what production runs), else SQLite.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from inbox.config import Settings
from tests.databases import pg_ok
from tests.e2e.proxy import CuttableProxy
from tests.e2e.support import E2E
from tests.fakes.notificame import notificame_app
from tests.fakes.serve import serve
from tests.support import running_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("INBOX_TEST_REQUIRE_BROWSER") == "1"
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One backend for the browser tests (this hook sees every item: only ours are touched)."""
    ours = [i for i in items if Path(str(i.fspath)).is_relative_to(E2E_DIR)]
    if not ours:
        return
    drop = "[sqlite" if pg_ok() else "[postgresql"
    deselected = [i for i in ours if drop in i.nodeid]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if i not in deselected]


HAVE_CHROMIUM = os.path.exists(CHROMIUM)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        if REQUIRE_BROWSER:
            pytest.fail(f"INBOX_TEST_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture(scope="module")
async def e2e_env(request: pytest.FixtureRequest, settings: Settings, browser: Any) -> AsyncIterator[E2E]:
    """Per module: a test module may set `APP_SETTINGS = {...}` for its app."""
    fake_asgi, fake = notificame_app()
    async with serve(fake_asgi) as fake_url:
        app_settings = settings.but(
            workers=True,
            provider_env={"NOTIFICAME_API_URL": fake_url},
            send_backoff_base_seconds=0.2,
            **getattr(request.module, "APP_SETTINGS", {}),
        )
        async with running_app(app_settings) as app:
            host, port = app.base_url.removeprefix("http://").split(":")
            proxy = CuttableProxy(host, int(port))
            await proxy.start()
            try:
                yield E2E(app, fake, proxy, browser)
            finally:
                await proxy.close()


@pytest.fixture
async def e2e(e2e_env: E2E) -> AsyncIterator[E2E]:
    """Per test: the module's environment, its pages closed (and checked for errors) afterwards."""
    e2e_env.fake.reset()
    try:
        yield e2e_env
    finally:
        if e2e_env.proxy.server is None:  # a test cut the network and failed before restoring it
            await e2e_env.proxy.restore()
        await e2e_env.close_pages()

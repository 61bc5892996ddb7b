"""Browser tests: Debian's Chromium driven by Playwright against a real app with workers on, a fake
Notifica.me, and a cuttable TCP proxy between the browser and the app (to drop the network for real).

Without /usr/bin/chromium these tests skip, unless INBOX_TEST_REQUIRE_BROWSER=1 (CI), which fails.
The UI does not depend on the database, so they run on one backend: PostgreSQL when configured
(what production runs), else SQLite.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from inbox.config import Settings
from tests.conftest import pg_ok
from tests.e2e.proxy import CuttableProxy
from tests.fakes.notificame import FakeNotificame, notificame_app
from tests.fakes.serve import serve
from tests.support import Agent, App, running_app

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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The README's pictures change on every run (clock times): they are rewritten only when asked
# (INBOX_UPDATE_SCREENSHOTS=1) or missing, so a test run leaves the working tree clean.
UPDATE_SCREENSHOTS = os.environ.get("INBOX_UPDATE_SCREENSHOTS") == "1"
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


@dataclass
class E2E:
    """One app (workers on) behind a cuttable proxy, its fake Notifica.me, and the browser."""

    app: App
    fake: FakeNotificame
    proxy: CuttableProxy
    browser: Any
    contexts: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Where the browser goes: through the proxy."""
        return self.proxy.url

    async def open(
        self, agent: Agent | None, path: str = "/", *, lang: str = "en", theme: str = "light"
    ) -> Any:
        """A fresh browser context (1366x768, light) signed in as `agent` (None: at the login form)."""
        context = await self.browser.new_context(
            viewport={"width": 1366, "height": 768}, color_scheme="light", locale="en-US"
        )
        self.contexts.append(context)
        prefs = {"inbox.lang": lang, "inbox.theme": theme}
        if agent is not None:
            prefs["inbox.token"] = agent.token
        # Only on the first load, so a test can still sign out or change a preference and reload.
        await context.add_init_script(
            "if (!sessionStorage.getItem('e2e-init')) {"
            " sessionStorage.setItem('e2e-init', '1');"
            f" for (const [k, v] of Object.entries({json.dumps(prefs)})) localStorage.setItem(k, v); }}"
        )
        page = await context.new_page()
        page.errors = []  # uncaught exceptions in the page: a test fails on any
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        await page.goto(self.url + path)
        return page

    async def screenshot(self, page: Any, name: str, tmp_path: Path) -> Path:
        """docs/screenshots/NAME when updating (or missing), else under the test's tmp_path."""
        target = SCREENSHOTS / name
        if not (UPDATE_SCREENSHOTS or not target.exists()):
            target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(target))
        return target

    async def close_pages(self) -> None:
        errors = []
        for context in self.contexts:
            for page in context.pages:
                errors.extend(getattr(page, "errors", []))
            await context.close()
        self.contexts.clear()
        assert not errors, f"JavaScript errors in the page: {errors}"


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

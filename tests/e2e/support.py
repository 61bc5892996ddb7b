"""The browser tests' environment: one app behind a cuttable proxy, its fake Notifica.me, the browser,
and the pages it opens (each failing its test on any JavaScript error)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.proxy import CuttableProxy
from tests.fakes.notificame import FakeNotificame
from tests.support import Agent, App

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The README's pictures change on every run (clock times): they are rewritten only when asked
# (INBOX_UPDATE_SCREENSHOTS=1) or missing, so a test run leaves the working tree clean.
UPDATE_SCREENSHOTS = os.environ.get("INBOX_UPDATE_SCREENSHOTS") == "1"


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

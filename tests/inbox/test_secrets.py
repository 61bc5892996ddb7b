"""Provider secrets are encrypted at rest and never appear in API output, CLI output or logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from inbox import models as m
from inbox.app import create_app
from inbox.config import Settings
from inbox.crypto import SecretBox, load_or_create_key
from inbox.logs import redact
from tests.fakes.serve import serve
from tests.support import App, notificame_message


async def test_secrets_are_encrypted_at_rest(app: App) -> None:
    tenant = await app.tenant()
    ch = await tenant.channel("messenger", "meta")
    async with app.runtime.engine.connect() as conn:
        sealed = (
            await conn.execute(select(m.channels.c.secrets).where(m.channels.c.id == ch.id))
        ).scalar_one()
    assert ch.app_secret and ch.app_secret not in sealed
    assert app.runtime.box.open(sealed)["app_secret"] == ch.app_secret
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox("another key").open(sealed)


async def test_secrets_never_in_api_output_or_logs(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    asgi = create_app(settings.but(log_level="debug"))
    async with serve(asgi, access_log=True, log_level="debug") as base_url:
        # uvicorn's own loggers do not propagate to the root logger pytest captures.
        for name in ("uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).addHandler(caplog.handler)
        app = App(base_url, asgi.state.runtime)
        try:
            await _exercise(app, caplog)
        finally:
            await app.close()
            for name in ("uvicorn.access", "uvicorn.error"):
                logging.getLogger(name).removeHandler(caplog.handler)


async def _exercise(app: App, caplog: pytest.LogCaptureFixture) -> None:
    tenant = await app.tenant()
    nm = await tenant.channel()
    meta = await tenant.channel("instagram", "meta")
    config = await app.runtime.directory.by_id(meta.id)
    assert config is not None
    secrets_ = [*config.secrets.values(), *((await app.runtime.directory.by_id(nm.id)).secrets.values())]  # type: ignore[union-attr]
    assert len(secrets_) == 4
    await app.post_webhook(nm, notificame_message(nm))
    await app.post_webhook(meta, b"{}")  # unsigned: 401, logged as such
    assert meta.app_secret
    await app.http.get(
        meta.webhook_path, params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}
    )
    outputs = []
    for path in ("/api/conversations", "/api/contacts", "/api/auth/me"):
        outputs.append((await tenant.admin.http.get(path)).text)
    logging.getLogger("inbox.test").info("config is %r", config)
    # What the server logs (the test's own httpx client logs its URLs, which is not the product's).
    ours = [
        r.getMessage()
        for r in caplog.records
        if r.name.split(".")[0] in ("uvicorn", "inbox", "channels", "bot")
    ]
    assert any("/webhooks/" in line for line in ours)  # the access log did run
    server_log = "\n".join(ours)
    everything = "\n".join(outputs) + server_log
    for secret in secrets_:
        assert secret not in everything
    for key_path in (nm.webhook_path, meta.webhook_path):
        assert key_path.rsplit("/", 1)[1] not in server_log
    assert tenant.admin.token not in server_log


def test_redaction_of_urls() -> None:
    assert (
        redact("POST /webhooks/notificame/abcDEF_123-x HTTP/1.1") == "POST /webhooks/notificame/*** HTTP/1.1"
    )
    assert redact("GET /ws?token=s3cr3t&since=4") == "GET /ws?token=***&since=4"
    assert redact("GET /webhooks/meta/k?hub.verify_token=vt&hub.challenge=1") == (
        "GET /webhooks/meta/***?hub.verify_token=***&hub.challenge=1"
    )


def test_generated_key_is_written_once(tmp_path: Path) -> None:
    first = load_or_create_key(None, tmp_path)
    assert load_or_create_key(None, tmp_path) == first
    assert load_or_create_key("explicit", tmp_path) == "explicit"
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0

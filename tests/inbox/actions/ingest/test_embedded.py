"""SQLite's raw batch (inbox/actions/ingest/embedded.py): rows stored in the same form SQLAlchemy
stores them (so every other path reads them unchanged), all or nothing on an error, bot jobs once per
conversation, and SQLite's own errors told apart (storage trouble answers 503, a bad statement not);
and, on every database, a batch that queues a conversation names its tenant for routing."""

from __future__ import annotations

import dataclasses
import re
import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from channels.base import Attachment, ChannelConfig, ContactRef, MessageReceived
from inbox import models as m
from inbox.actions.ingest import embedded, single, store
from inbox.db import is_connection_error
from inbox.signals import drain
from inbox.sqlite_raw import on_thread
from tests.support import App

STORED_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


@pytest.fixture
def lite(app: App) -> App:
    if app.runtime.engine.dialect.name != "sqlite":
        pytest.skip("the raw batch is SQLite's")
    return app


async def _channel(app: App, *, bot: bool = False) -> ChannelConfig:
    tenant = await app.tenant()
    made = await tenant.channel(bot=bot)
    channel = await app.runtime.directory.by_id(made.id)
    assert channel is not None
    return channel


def _message(xid: str, *, name: str | None = "Zé", raw: bool = False) -> MessageReceived:
    return MessageReceived(
        contact=ContactRef("whatsapp", xid, name),
        provider_message_id=f"pid-{secrets.token_hex(6)}",
        kind="unsupported" if raw else "image",
        text='olá "mundo"',
        attachments=(Attachment("image", "https://example.com/a.jpg", "image/jpeg", "a.jpg"),),
        reply_to="quoted-1",
        timestamp=datetime(2026, 11, 30, 23, 59, 59, 120000, tzinfo=UTC),
        raw={"type": "poll", "n": [1, 2]} if raw else None,
    )


async def _raw_batch(app: App, todo: list[tuple[ChannelConfig, MessageReceived]]) -> embedded.Outcome:
    async with app.runtime.engine.connect() as conn:
        out = await on_thread(conn, embedded.ingest, todo, m.utcnow())
    assert out is not None
    return out


async def _stored(app: App, table: str, where: str, **params: Any) -> list[dict[str, Any]]:
    """Each column's storage class and value, as SQLite holds them."""
    async with app.runtime.engine.connect() as conn:
        cols = [r[1] for r in (await conn.execute(text(f"PRAGMA table_info({table})"))).all()]
        shown = ", ".join(f"typeof({c}), {c}" for c in cols)
        rows = (await conn.execute(text(f"SELECT {shown} FROM {table} WHERE {where}"), params)).all()
    return [{c: (r[2 * i], r[2 * i + 1]) for i, c in enumerate(cols)} for r in rows]


def _form(row: dict[str, Any], varying: set[str]) -> dict[str, Any]:
    """Storage classes everywhere; values where they do not vary between runs; times by their form."""
    out = {}
    for col, (kind, value) in row.items():
        if isinstance(value, str) and STORED_TIME.match(value):
            out[col] = (kind, "a stored time")
        else:
            out[col] = (kind, None if col in varying else value)
    return out


@pytest.mark.parametrize("raw", [False, True])
async def test_rows_are_stored_as_sqlalchemy_stores_them(lite: App, raw: bool) -> None:
    varying = {"id", "tenant_id", "channel_id", "contact_id", "conversation_id", "sender_id",
               "provider_message_id", "external_id", "seq", "frame"}  # fmt: skip
    forms = []
    for path in ("single", "raw"):
        channel = await _channel(lite)
        msg = _message(f"55{secrets.randbelow(10**10)}", raw=raw)
        if path == "single":
            async with lite.runtime.uow() as uow:
                await single.ingest(uow, channel, [msg])
        else:
            await _raw_batch(lite, [(channel, msg)])
        tid = channel.tenant_id
        forms.append(
            {
                table: [_form(r, varying) for r in await _stored(lite, table, "tenant_id = :t", t=tid)]
                for table in ("contacts", "contact_identities", "conversations", "messages", "events")
            }
        )
    single_form, raw_form = forms
    assert raw_form == single_form
    assert single_form["messages"][0]["provider_ts"] == ("text", "a stored time")
    assert single_form["messages"][0]["raw"][0] == "text"  # JSON text, 'null' when there is none


async def _last_seq(app: App, tenant_id: int) -> int:
    async with app.runtime.engine.connect() as conn:
        q = select(m.tenants.c.last_seq).where(m.tenants.c.id == tenant_id)
        return int((await conn.execute(q)).scalar_one())


async def test_an_error_stores_nothing_and_the_connection_goes_on(lite: App) -> None:
    channel = await _channel(lite)
    ghost = dataclasses.replace(channel, id=10**9)  # no such channel: its conversation breaks a key
    first, second = _message(f"55{secrets.randbelow(10**10)}"), _message(f"55{secrets.randbelow(10**10)}")
    before = await _last_seq(lite, channel.tenant_id)
    with pytest.raises(sqlite3.IntegrityError) as err:
        await _raw_batch(lite, [(channel, first), (ghost, second)])
    assert not is_connection_error(err.value)  # a bug, not an outage: never answered 503
    assert await _last_seq(lite, channel.tenant_id) == before
    assert await _stored(lite, "messages", "tenant_id = :t", t=channel.tenant_id) == []
    assert await _stored(lite, "contacts", "tenant_id = :t AND name = 'Zé'", t=channel.tenant_id) == []

    out = await _raw_batch(lite, [(channel, first)])
    assert [(r.type, r.seq) for r in out.records] == [
        ("conversation.created", before + 1),
        ("message.created", before + 2),
    ]
    assert (await _raw_batch(lite, [(channel, first)])).records == []  # exactly once


async def test_bot_turns_once_per_conversation(lite: App) -> None:
    channel = await _channel(lite, bot=True)
    xid = f"55{secrets.randbelow(10**10)}"
    out = await _raw_batch(lite, [(channel, _message(xid)), (channel, _message(xid))])
    assert out.bot and not out.queued
    async with lite.runtime.engine.connect() as conn:
        q = select(m.jobs.c.kind, m.jobs.c.tenant_id).where(m.jobs.c.tenant_id == channel.tenant_id)
        jobs = (await conn.execute(q)).all()
    assert jobs == [("bot", channel.tenant_id)]


def test_sqlite_errors_are_told_apart() -> None:
    assert is_connection_error(sqlite3.OperationalError("database is locked"))
    assert is_connection_error(sqlite3.OperationalError("disk I/O error"))
    assert not is_connection_error(sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert not is_connection_error(sqlite3.ProgrammingError("bad parameter"))


async def test_a_queued_conversation_names_its_tenant_for_routing(app: App) -> None:
    """Every database: the routing worker scans the database only once a second, so a batch that
    queues a conversation names its tenant (a bot channel's new conversation does not queue)."""
    queued, bot = await _channel(app), await _channel(app, bot=True)
    drain(app.runtime)
    await store(app.runtime, [(bot, [_message(f"55{secrets.randbelow(10**10)}")])])
    assert bot.tenant_id not in drain(app.runtime)
    await store(app.runtime, [(queued, [_message(f"55{secrets.randbelow(10**10)}")])])
    assert queued.tenant_id in drain(app.runtime)

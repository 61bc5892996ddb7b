"""SQLite's full-text index fed after commit (migration 0016, inbox/workers/search_index.py): every
message committed is indexed once, in batches; deletions and cleared texts follow indexed rows only;
a reused rowid is indexed; the worker indexes what webhooks wrote; PostgreSQL's search needs none."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from inbox.db import create_engine
from inbox.migrate import alembic_config, migrate
from inbox.sqlite_raw import Writer
from inbox.workers import search_index
from tests.inbox.api.productivity_support import conversation
from tests.inbox.realtime.client import wait_until
from tests.support import App

_MESSAGE = """
    INSERT INTO messages (tenant_id, conversation_id, channel_id, direction, sender_type, kind, text,
                          attachments, status, deleted, created_at)
    VALUES (1, 1, 1, 'in', 'contact', 'text', ?, '[]', 'received', 0, '2026-12-03 10:00:00.000000')
"""


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _add(raw: sqlite3.Connection, text: str | None) -> int:
    rowid = raw.execute(_MESSAGE, (text,)).lastrowid
    assert rowid is not None
    return rowid


def _found(raw: sqlite3.Connection, q: str) -> list[int]:
    match = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid"
    return [r[0] for r in raw.execute(match, (f'"{q}"',))]


def _intact(raw: sqlite3.Connection) -> None:
    """The index is sound (FTS5's own check) and holds exactly the messages with a text up to the mark.
    (FTS5's check against the content table, rank 1, counts rows without text as missing, and
    migration 0005 never indexed those.)"""
    raw.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    indexed = [r[0] for r in raw.execute("SELECT id FROM messages_fts_docsize ORDER BY id")]
    mark = search_index.pending(raw)[0]
    expected = "SELECT id FROM messages WHERE text IS NOT NULL AND id <= ? ORDER BY id"
    assert indexed == [r[0] for r in raw.execute(expected, (mark,))]


def _parents(raw: sqlite3.Connection) -> None:
    """Tenant, channel, contact and conversation 1, which every message here belongs to."""
    at = "'2026-12-03 10:00:00.000000'"
    raw.execute(f"INSERT INTO tenants (id, name, settings, created_at) VALUES (1, 'T', '{{}}', {at})")
    raw.execute(
        "INSERT INTO channels (id, tenant_id, kind, provider, name, webhook_key, secrets, settings,"
        f" created_at) VALUES (1, 1, 'whatsapp', 'notificame', 'W', 'k', '', '{{}}', {at})"
    )
    raw.execute(f"INSERT INTO contacts (id, tenant_id, attributes, created_at) VALUES (1, 1, '{{}}', {at})")
    raw.execute(
        "INSERT INTO conversations (id, tenant_id, channel_id, contact_id, status, created_at,"
        f" last_message_at) VALUES (1, 1, 1, 1, 'queued', {at}, {at})"
    )


async def _migrated(path: Path, revision: str = "head") -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate(engine, revision)
    finally:
        await engine.dispose()


async def test_upgrade_keeps_the_index_and_back_fills_nothing(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    await _migrated(path, "0014")
    raw = _db(path)
    _parents(raw)
    old = [_add(raw, f"antigo número {i}") for i in range(3)]  # indexed by 0005's trigger
    await _migrated(path)
    assert search_index.pending(raw) == (old[-1], old[-1])  # nothing waits: nothing re-indexed
    assert _found(raw, "antigo") == old
    new = _add(raw, "novo pedido")
    assert _found(raw, "novo pedido") == []  # not indexed by the insert any more
    assert search_index.index_pending(raw) == 1
    assert search_index.index_pending(raw) == 0  # once
    assert _found(raw, "novo pedido") == [new]
    _intact(raw)

    # Down to 0014: what waits is indexed and the trigger is back.
    waiting = _add(raw, "esperando índice")
    sync = sa.create_engine(f"sqlite:///{path}")
    with sync.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0014")
    sync.dispose()
    assert _found(raw, "esperando") == [waiting]
    back = _add(raw, "trigger de volta")
    assert _found(raw, "trigger de volta") == [back]
    raw.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")  # all have text
    raw.close()


async def test_batches_deletions_cleared_texts_and_reused_ids(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    await _migrated(path)
    raw = _db(path)
    _parents(raw)
    ids = [_add(raw, f"mensagem {i} comum") for i in range(25)]
    assert search_index.index_pending(raw, limit=10) == 10  # a chunk at a time
    assert search_index.pending(raw) == (ids[9], ids[-1])
    while search_index.index_pending(raw, limit=10):
        pass
    assert _found(raw, "comum") == ids
    _intact(raw)

    # Cleared (an unsent message) and deleted: indexed rows leave the index, waiting ones never enter.
    indexed, waiting = ids[0], _add(raw, "apagada antes comum")
    raw.execute("UPDATE messages SET text = NULL, deleted = 1 WHERE id IN (?, ?)", (indexed, waiting))
    raw.execute("DELETE FROM messages WHERE id = ?", (ids[1],))
    raw.execute("UPDATE messages SET text = 'trocado' WHERE id = ?", (ids[2],))
    search_index.index_pending(raw)
    assert _found(raw, "comum") == ids[3:]
    assert _found(raw, "trocado") == [ids[2]]
    _intact(raw)

    # The highest message deleted: SQLite gives its id to the next one (no AUTOINCREMENT), which
    # must be indexed, not taken as indexed already.
    top = _add(raw, "a mais nova")
    search_index.index_pending(raw)
    raw.execute("DELETE FROM messages WHERE id = ?", (top,))
    assert search_index.pending(raw)[0] < top
    again = _add(raw, "reaproveitada")
    assert again == top
    search_index.index_pending(raw)
    assert _found(raw, "reaproveitada") == [again] and _found(raw, "mais nova") == []
    _intact(raw)
    raw.close()


async def test_search_sees_webhooks_once_indexed(app: App) -> None:
    """PostgreSQL's index is the database's: found at once. SQLite's lags until indexed; the worker
    indexes after a batch of webhooks wakes it."""
    t = await app.tenant()
    ch = await t.channel()
    await conversation(app, ch, text="procuro um trampolim azul")

    async def hits(q: str) -> int:
        r = await t.admin.http.get("/api/search", params={"q": q})
        assert r.status_code == 200, r.text
        return len(r.json()["messages"])

    if app.runtime.sqlite_writer is None:
        assert await hits("trampolim azul") == 1
        assert await search_index.catch_up(app.runtime) == 0
        return
    assert await hits("trampolim azul") == 0  # committed, not indexed yet
    assert await search_index.catch_up(app.runtime) >= 1
    assert await hits("trampolim azul") == 1

    worker = asyncio.create_task(search_index.search_index_worker(app.runtime))
    try:
        await conversation(app, ch, text="outro trampolim verde")

        async def indexed() -> bool:
            return await hits("trampolim verde") == 1

        await wait_until(indexed, what="the worker indexing the webhook's message")
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker


async def test_the_writer_leaves_checkpoints_to_the_worker(tmp_path: Path) -> None:
    """The kept writer commits without checkpointing (its WAL grows past SQLite's default of 1,000
    pages); `checkpoint` copies the WAL into the database, and the next write starts it over."""
    path = tmp_path / "inbox.db"
    await _migrated(path)
    raw = _db(path)
    _parents(raw)
    (page,) = raw.execute("PRAGMA page_size").fetchone()
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    writer = Writer(engine)

    def write(conn: sqlite3.Connection, n: int) -> int:
        conn.execute("BEGIN IMMEDIATE")
        for i in range(n):
            conn.execute(_MESSAGE, (f"mensagem {i}",))
        conn.commit()
        (setting,) = conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        return int(setting)

    def wal_pages() -> int:
        return (os.path.getsize(f"{path}-wal") - 32) // (page + 24)  # WAL header, frame headers

    try:
        for _ in range(100):
            assert await writer.run(write, 500) == 0
            if wal_pages() > 1500:
                break
        assert wal_pages() > 1500
        await writer.checkpoint()
        await writer.run(write, 1)
        _, frames, _ = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames < 10  # the WAL started over: everything before was in the database
    finally:
        await writer.close()
        await engine.dispose()
        raw.close()

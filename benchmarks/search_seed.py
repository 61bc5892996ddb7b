"""Loading the search history (benchmarks/search_corpus.py) into a product's fresh database, fast.

Owns the bulk paths: COPY (asyncpg `copy_records_to_table`) on PostgreSQL, `executemany` in one
transaction on SQLite. The search index is maintained exactly as in service: on SQLite the FTS5
table is fed after the load as the product feeds it after commit (inbox/workers/search_index.py,
`CHUNK` message ids a transaction); on PostgreSQL the rows go into `messages` with the trigram GIN
index in place, which takes each row through its pending list. Then the state a
database in service reaches by itself: PostgreSQL's autovacuum (VACUUM ANALYZE: statistics, the
pending list merged, the visibility map); SQLite gets nothing, as the product never runs ANALYZE.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from benchmarks import procs
from benchmarks.product import Product
from benchmarks.search_corpus import Corpus, Tenant
from inbox import models as m
from inbox.workers.search_index import index_pending

CHUNK = 50_000
# Columns loaded per table (the rest take their defaults, as in the product's own inserts).
COLUMNS = {
    "contacts": ["id", "tenant_id", "name", "phone", "email", "created_at", "lead_status", "attributes"],
    "contact_identities": ["id", "tenant_id", "contact_id", "kind", "external_id"],
    "conversations": ["id", "tenant_id", "channel_id", "contact_id", "queue_id", "status", "assignee_id",
                      "created_at", "last_message_at", "last_inbound_at", "queued_at", "assigned_at",
                      "resolved_at", "bot_turns", "unread_count"],
    "messages": ["id", "tenant_id", "conversation_id", "channel_id", "direction", "sender_type",
                 "sender_id", "kind", "text", "attachments", "status", "provider_message_id", "deleted",
                 "created_at"],
}  # fmt: skip
CONSTANT = {"lead_status": "new", "attributes": "{}", "bot_turns": 0, "unread_count": 0,
            "attachments": "[]", "deleted": False}  # fmt: skip
AGENTS = 20  # in the searched tenant, half in each of its two queues


async def tenants(prod: Product) -> tuple[list[Tenant], dict[str, str]]:
    """The searched tenant (the product's, with two queues, 20 agents and an admin) and three
    others (8 agents each); returns them and the bearer tokens of the searched tenant's admin and
    of an agent of its first queue."""
    from inbox.actions import admin
    from inbox.config import Settings
    from inbox.runtime import Runtime

    assert prod.db is not None
    rt = Runtime(Settings(database_url=prod.url, data_dir=prod.data_dir, workers=False))
    others: list[tuple[int, int]] = []
    try:
        async with rt.uow() as uow:
            queues = [
                int((await admin.create_queue(uow, prod.tenant_id, name))["id"])
                for name in ("Vendas", "Suporte")
            ]
            for name in ("Loja Dois", "Loja Três"):
                tid = int((await admin.create_tenant(uow, name))["id"])
                channel = await admin.create_channel(
                    uow, tid, kind="whatsapp", provider="notificame", name="WhatsApp",
                    external_id=f"{name}-search-bench", secrets_={"notificame_token": "x"},
                )  # fmt: skip
                others.append((tid, int(channel["id"])))
    finally:
        await rt.stop()
    db = prod.db
    agents = [a for q in queues for a in await db.agents(prod.tenant_id, "agent", AGENTS // 2, q)]
    admin_token = (await db.agents(prod.tenant_id, "admin", 1))[0][1]
    searched = Tenant(prod.tenant_id, list(prod.channel_ids), 0.5, [a for a, _ in agents], queues, 150)
    # The other tenants have agents too: their conversations are not all unassigned, which would
    # make "unassigned" (part of what an agent sees) a far larger set than in service.
    rest = [
        Tenant(tid, channels, weight, [a for a, _ in await db.agents(tid, "agent", 8)], active=active)
        for tid, channels, weight, active in (
            (prod.fan_tenant_id, [prod.fan_channel_id], 0.2, 60),
            (others[0][0], [others[0][1]], 0.2, 60),
            (others[1][0], [others[1][1]], 0.1, 40),
        )
    ]
    return [searched, *rest], {"admin": admin_token, "agent": agents[0][1]}


def _tuples(table: str, rows: Iterable[dict[str, Any]], sqlite: bool) -> Iterator[tuple[Any, ...]]:
    cols = COLUMNS[table]
    for row in rows:
        out = []
        for c in cols:
            v = row[c] if c in row else CONSTANT[c]
            if isinstance(v, datetime):  # naive UTC, as UTCDateTime stores it
                v = v.replace(tzinfo=None)
                if sqlite:
                    v = v.strftime("%Y-%m-%d %H:%M:%S.%f")
            out.append(v)
        yield tuple(out)


def _chunks(it: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := list(itertools.islice(it, CHUNK)):
        yield chunk


async def _bases(prod: Product) -> dict[str, int]:
    assert prod.db is not None
    out = {}
    async with prod.db.engine.connect() as conn:
        for table in COLUMNS:
            t = m.metadata.tables[table]
            top = (await conn.execute(select(func.coalesce(func.max(t.c.id), 0)))).scalar_one()
            out[table] = int(top) + 1
    return out


def _rows(corpus: Corpus, bases: dict[str, int]) -> dict[str, Iterable[dict[str, Any]]]:
    return {
        "contacts": corpus.contact_rows(bases["contacts"]),
        "contact_identities": corpus.identity_rows(bases["contact_identities"], bases["contacts"]),
        "conversations": corpus.conversation_rows(bases["conversations"], bases["contacts"]),
        "messages": corpus.message_rows(bases["messages"], bases["conversations"]),
    }


async def _postgresql(url: str, rows: dict[str, Iterable[dict[str, Any]]]) -> dict[str, float]:
    conn = await procs.pg_connect(url)
    timing: dict[str, float] = {}
    try:
        async with conn.transaction():
            for table, it in rows.items():
                t0 = time.monotonic()
                for chunk in _chunks(_tuples(table, it, sqlite=False)):
                    await conn.copy_records_to_table(table, records=chunk, columns=COLUMNS[table])
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
                timing[f"load_{table}"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        await conn.execute(f"VACUUM ANALYZE {', '.join(COLUMNS)}", timeout=3600)
        timing["vacuum_analyze"] = round(time.monotonic() - t0, 1)
    finally:
        await conn.close()
    return timing


def _sqlite(path: str, rows: dict[str, Iterable[dict[str, Any]]]) -> dict[str, float]:
    timing: dict[str, float] = {}
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        with db:  # one transaction
            for table, it in rows.items():
                t0 = time.monotonic()
                cols = COLUMNS[table]
                sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
                for chunk in _chunks(_tuples(table, it, sqlite=True)):
                    db.executemany(sql, chunk)
                timing[f"load_{table}"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        while index_pending(db):
            pass
        timing["index_messages"] = round(time.monotonic() - t0, 1)
    finally:
        db.close()
    return timing


async def seed(prod: Product, total: int) -> tuple[Corpus, dict[str, str], dict[str, Any]]:
    """`total` messages over four tenants; returns the corpus, the tokens and what loading took."""
    t0 = time.monotonic()
    ts, tokens = await tenants(prod)
    corpus = Corpus(ts, total)
    corpus.plan()
    bases = await _bases(prod)
    planned = time.monotonic() - t0
    rows = _rows(corpus, bases)
    if prod.database == "postgresql":
        timing = await _postgresql(prod.url, rows)
    else:
        path = make_url(prod.url).database
        assert path
        timing = await asyncio.to_thread(_sqlite, path, rows)
    detail = {
        "messages": total,
        "conversations": len(corpus.conversations),
        "contacts": len(corpus.contacts),
        "tenants": len(ts),
        "searched_tenant_messages": sum(1 for c in corpus.conv_of if corpus.conversations[c].tenant == 0),
        "plan_seconds": round(planned, 1),
        **timing,
        "seed_seconds": round(time.monotonic() - t0, 1),
    }
    return corpus, tokens, detail

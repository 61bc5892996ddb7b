"""PostgreSQL's steps of the set-based ingest: arrays in, one round trip per step.

Owns the SQL of `inbox.actions.ingest_batch` on PostgreSQL; the flow and the rules stay there, and
SQLite runs the same steps with portable Core statements. Here every step is one statement whatever
the batch size: the batch's values travel as arrays (`unnest`), so the statement text never changes
(asyncpg prepares it once per connection) and SQLAlchemy processes one parameter set, not one per
row. Writes that depend on each other share a statement through data-modifying CTEs: a new contact
and its identity, the lock on open conversations and the insert of missing ones, the messages and
the conversations they move. A webhook batch is then BEGIN, four or five statements and COMMIT,
where it took about fifteen round trips before (PERFORMANCE.md: a round trip is the unit of cost).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Table, column, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import JSON, TypeDecorator

from inbox import models as m

Key = tuple[int, str, str]  # (tenant, network, external id): one identity

_PG = postgresql.dialect()


def _sql_type(col: Column[Any]) -> str:
    return col.type.compile(dialect=_PG)


def _to_db(col: Column[Any]) -> Any:
    """What an array element of this column must be: asyncpg takes JSON as text, and our
    `UTCDateTime` stores naive UTC."""
    if isinstance(col.type, JSON):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(col.type, TypeDecorator):
        return lambda v, t=col.type: t.process_bind_param(v, _PG)
    return lambda v: v


def _unnest(names: Iterable[str], types: Iterable[str], alias: str, ordinality: bool = False) -> str:
    """`unnest(CAST(:a AS T[]), ...) AS alias(a, ...)`: one array parameter per column."""
    names = list(names)
    arrays = ", ".join(f"CAST(:{n} AS {t}[])" for n, t in zip(names, types, strict=True))
    cols = ", ".join(names + (["n"] if ordinality else []))
    return f"unnest({arrays}){' WITH ORDINALITY' if ordinality else ''} AS {alias}({cols})"


class Inserts:
    """Rows of one table as arrays, column by column, for `INSERT ... SELECT FROM unnest(...)`."""

    def __init__(self, table: Table, names: Sequence[str]) -> None:
        self.table = table
        self.names = list(names)
        self._cols = [table.c[n] for n in self.names]
        self._conv = [_to_db(c) for c in self._cols]
        self.source = _unnest(self.names, (_sql_type(c) for c in self._cols), "r", ordinality=True)
        self.column_list = ", ".join(self.names)

    def params(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        return {n: [f(r[n]) for r in rows] for n, f in zip(self.names, self._conv, strict=True)}


def _typed(sql: str, table: Table, *extra: Any) -> TextClause:
    """A text statement whose result columns are typed like the table's (aware datetimes, JSON)."""
    return text(sql).columns(*extra, *table.c)  # type: ignore[return-value]


_NOW = "CAST(:now AS TIMESTAMP)"
_LOOKUP_TYPES = ["BIGINT", "TEXT", "BIGINT", "TEXT", "TEXT"]
_CONTACT_TYPES = ["BIGINT", "TEXT", "TEXT", "TEXT"]


class Statements:
    def __init__(self) -> None:
        # Per delivery: already stored? the identity's contact and its name.
        # Lateral subqueries with LIMIT keep the plan an index lookup per delivery whatever the
        # statistics say (a join here was planned as a hash over a scan of the whole table).
        self.lookup = text(
            f"""
            SELECT i.n, idt.contact_id, idt.name,
                   (SELECT true FROM messages s
                    WHERE s.channel_id = i.chid AND s.provider_message_id = i.pid LIMIT 1) AS stored
            FROM {_unnest(["chid", "pid", "tid", "kind", "xid"], _LOOKUP_TYPES, "i", True)}
            LEFT JOIN LATERAL (
                SELECT x.contact_id, c.name FROM contact_identities x JOIN contacts c ON c.id = x.contact_id
                WHERE x.tenant_id = i.tid AND x.kind = i.kind AND x.external_id = i.xid LIMIT 1
            ) idt ON true
            """
        )
        # New contacts with their identities; where another transaction took the identity first,
        # `won` is false and the caller drops the contact made here.
        self.contacts = text(
            f"""
            WITH i AS MATERIALIZED (
                SELECT nextval(pg_get_serial_sequence('contacts', 'id')) AS id, u.*
                FROM {_unnest(["tid", "kind", "xid", "name"], _CONTACT_TYPES, "u", True)}
            ), c AS (
                INSERT INTO contacts (id, tenant_id, name, lead_status, attributes, created_at)
                SELECT id, tid, name, 'new', CAST('{{}}' AS JSON), {_NOW} FROM i ORDER BY n
            ), w AS (
                INSERT INTO contact_identities (tenant_id, contact_id, kind, external_id)
                SELECT tid, id, kind, xid FROM i ORDER BY n
                ON CONFLICT (tenant_id, kind, external_id) DO NOTHING
                RETURNING contact_id
            )
            SELECT i.n, i.id, w.contact_id IS NOT NULL AS won FROM i LEFT JOIN w ON w.contact_id = i.id
            """
        )
        # The open conversation of each (channel, contact): existing ones locked in id order (so
        # parallel batches queue instead of deadlocking, and the assignee read is the one at commit),
        # missing ones opened. A conversation another transaction opened meanwhile is in neither
        # half (ON CONFLICT): the caller locks it with `inbox.actions.ingest_batch`'s `open`.
        conv = Inserts(m.conversations, ["tenant_id", "channel_id", "contact_id", "queue_id", "status"])
        self.conversations = _typed(
            f"""
            WITH old AS (
                SELECT cv.* FROM {conv.source}
                CROSS JOIN LATERAL (
                    SELECT * FROM conversations
                    WHERE channel_id = r.channel_id AND contact_id = r.contact_id AND status <> 'resolved'
                    LIMIT 1 FOR UPDATE
                ) cv
            ), new AS (
                INSERT INTO conversations
                    ({conv.column_list}, created_at, last_message_at, queued_at, bot_turns, unread_count)
                SELECT {conv.column_list}, {_NOW}, {_NOW}, CASE WHEN status = 'queued' THEN {_NOW} END, 0, 0
                FROM {conv.source}
                WHERE NOT EXISTS (
                    SELECT 1 FROM old WHERE old.channel_id = r.channel_id AND old.contact_id = r.contact_id
                )
                ORDER BY n
                ON CONFLICT (channel_id, contact_id) WHERE status <> 'resolved' DO NOTHING
                RETURNING *
            )
            SELECT false AS created, old.* FROM old UNION ALL SELECT true, new.* FROM new
            """,
            m.conversations,
            column("created", Boolean),
        )
        self.conversation_rows = conv
        # The messages (a repeated delivery inserts nothing) and the conversations they move; a
        # snoozed conversation is left to the caller, which wakes it.
        msgs = Inserts(m.messages, _MESSAGE_COLUMNS)
        self.messages = _typed(
            f"""
            WITH ins AS (
                INSERT INTO messages ({msgs.column_list})
                SELECT {msgs.column_list} FROM {msgs.source} ORDER BY n
                ON CONFLICT (channel_id, provider_message_id) DO NOTHING
                RETURNING *
            ), k AS (
                SELECT conversation_id, count(*) AS k FROM ins GROUP BY conversation_id
            ), bumped AS (
                UPDATE conversations cv
                SET last_message_at = {_NOW},
                    last_inbound_at = {_NOW},
                    unread_count = cv.unread_count + (SELECT k.k FROM k WHERE k.conversation_id = cv.id)
                WHERE cv.id = ANY(ARRAY(SELECT conversation_id FROM k)) AND cv.status <> 'snoozed'
            )
            SELECT * FROM ins
            """,
            m.messages,
        )
        self.message_rows = msgs


_MESSAGE_COLUMNS = [
    "tenant_id",
    "conversation_id",
    "channel_id",
    "direction",
    "sender_type",
    "sender_id",
    "kind",
    "text",
    "attachments",
    "status",
    "provider_message_id",
    "reply_to",
    "deleted",
    "raw",
    "provider_ts",
    "created_at",
]

_S: Statements | None = None


def stmts() -> Statements:
    global _S
    if _S is None:
        _S = Statements()
    return _S


def _naive(now: datetime) -> datetime:
    return m.UTCDateTime().process_bind_param(now, _PG)  # type: ignore[return-value]


def lookup(
    conn: Connection, items: Sequence[tuple[int, str, Key]]
) -> tuple[set[int], dict[Key, tuple[int, str | None]]]:
    """`items`: (channel, provider message id, identity). Returns the positions (0-based) already
    stored, and the contact of every identity that has one."""
    params = {
        "chid": [chid for chid, _, _ in items],
        "pid": [pid for _, pid, _ in items],
        "tid": [k[0] for _, _, k in items],
        "kind": [k[1] for _, _, k in items],
        "xid": [k[2] for _, _, k in items],
    }
    stored: set[int] = set()
    contacts: dict[Key, tuple[int, str | None]] = {}
    for n, contact_id, name, is_stored in conn.execute(stmts().lookup, params):
        if is_stored:
            stored.add(n - 1)
        if contact_id is not None:
            contacts[items[n - 1][2]] = (contact_id, name)
    return stored, contacts


def create_contacts(
    conn: Connection, missing: Sequence[Key], names: Mapping[Key, str | None], now: datetime
) -> tuple[dict[Key, int], dict[Key, int]]:
    """Returns (won: identity -> new contact, lost: identity -> contact made here but not used)."""
    params = {
        "tid": [k[0] for k in missing],
        "kind": [k[1] for k in missing],
        "xid": [k[2] for k in missing],
        "name": [names[k] for k in missing],
        "now": _naive(now),
    }
    won: dict[Key, int] = {}
    lost: dict[Key, int] = {}
    for n, contact_id, ok in conn.execute(stmts().contacts, params):
        (won if ok else lost)[missing[n - 1]] = contact_id
    return won, lost


def open_conversations(
    conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[tuple[bool, Mapping[Any, Any]]]:
    """`rows`: the conversation each (channel, contact) would open with. Returns (created, row) for
    every conversation found or opened."""
    s = stmts()
    params: dict[str, Any] = s.conversation_rows.params(rows)
    params["now"] = _naive(now)
    return [(r.created, r._mapping) for r in conn.execute(s.conversations, params)]


def insert_messages(
    conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[Mapping[Any, Any]]:
    """Inserts what is not stored yet and moves the conversations (but snoozed ones). Returns the
    inserted rows."""
    s = stmts()
    params: dict[str, Any] = s.message_rows.params(rows)
    params["now"] = _naive(now)
    return [r._mapping for r in conn.execute(s.messages, params)]

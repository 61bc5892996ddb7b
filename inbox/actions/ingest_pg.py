"""PostgreSQL's steps of the set-based ingest: arrays in, one round trip per step.

Owns the SQL of `inbox.actions.ingest_batch` on PostgreSQL; the flow and the rules stay there, and
SQLite runs the same steps with portable Core statements. Here every step is one statement whatever
the batch size: the batch's values travel as arrays (`unnest`), so the statement text never changes
(asyncpg prepares it once per connection) and SQLAlchemy processes one parameter set, not one per
row. Writes that depend on each other share a statement through data-modifying CTEs: the dedup
check, the contacts and identities, the lock on open conversations and the insert of missing ones
are one statement (`people`); the messages and the conversations they move another. With the event
log append (inbox/uow.py) a webhook batch is BEGIN, three statements and COMMIT, where it took about
fifteen round trips before (PERFORMANCE.md: a round trip is the unit of cost).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Integer, String, Table, column, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator

from inbox import models as m

Key = tuple[int, str, str]  # (tenant, network, external id): one identity

_PG = postgresql.dialect()


def _sql_type(col: Column[Any]) -> str:
    return col.type.compile(dialect=_PG)


def _to_json(col: Column[Any]) -> Any:
    """How a value of this column travels in the rows document: JSON as itself, our `UTCDateTime`
    as naive UTC in ISO 8601 (PostgreSQL reads it back as `timestamp`), the rest as it is."""
    if isinstance(col.type, TypeDecorator):
        return lambda v, t=col.type: None if v is None else t.process_bind_param(v, _PG).isoformat()
    return None


def recordset(columns: Sequence[tuple[str, str]], alias: str, param: str = "rows") -> str:
    """`json_to_recordset(:rows) AS alias(n, a, ...)`: the batch as one JSON parameter, a list of
    objects with a position `n` (1-based) and one member per column. One text parameter instead of
    an array per column: asyncpg checks every array element against abstract base classes, and
    building the per-column lists cost as much again."""
    cols = ", ".join(f"{name} {sqltype}" for name, sqltype in [("n", "BIGINT"), *columns])
    return f"json_to_recordset(CAST(:{param} AS JSON)) AS {alias}({cols})"


def rows_json(rows: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps([{"n": i, **row} for i, row in enumerate(rows, start=1)], separators=(",", ":"))


class Inserts:
    """Rows of one table as one JSON parameter, for `INSERT ... SELECT FROM json_to_recordset(...)`."""

    def __init__(self, table: Table, names: Sequence[str]) -> None:
        self.names = list(names)
        cols = [table.c[n] for n in self.names]
        self._conv = [(n, f) for n, c in zip(self.names, cols, strict=True) if (f := _to_json(c)) is not None]
        self.source = recordset([(n, _sql_type(c)) for n, c in zip(self.names, cols, strict=True)], "r")
        self.column_list = ", ".join(self.names)

    def params(self, rows: Sequence[Mapping[str, Any]]) -> str:
        out = []
        for row in rows:
            values = {n: row[n] for n in self.names}
            for n, f in self._conv:
                values[n] = f(values[n])
            out.append(values)
        return rows_json(out)


def _typed(sql: str, table: Table, *extra: Any) -> TextClause:
    """A text statement whose result columns are typed like the table's (aware datetimes, JSON)."""
    return text(sql).columns(*extra, *table.c)  # type: ignore[return-value]


_NOW = "CAST(:now AS TIMESTAMP)"
_PEOPLE = [
    ("chid", "BIGINT"),
    ("pid", "TEXT"),
    ("tid", "BIGINT"),
    ("kind", "TEXT"),
    ("xid", "TEXT"),
    ("name", "TEXT"),
    ("queue", "BIGINT"),
    ("status", "TEXT"),
]


# The open conversation of each (channel `chid`, contact `person`) of the CTE `pairs` (with `tid`,
# `queue` and the `status` a new one starts in), as the CTE `convs` (`created` + the row): existing
# ones locked, one by one in (channel, contact) order so that parallel batches queue instead of
# deadlocking (and the assignee read is the one at commit), missing ones opened. One that another
# transaction opened meanwhile is in neither half (ON CONFLICT): the caller looks again. The
# partial index's predicate is a literal: PostgreSQL must prove the arbiter index applies, which it
# cannot do with a parameter in a generic plan.
_LOCK_OR_OPEN = f"""old AS (
                SELECT cv.* FROM pairs CROSS JOIN LATERAL (
                    SELECT * FROM conversations
                    WHERE channel_id = pairs.chid AND contact_id = pairs.person AND status <> 'resolved'
                    LIMIT 1 FOR UPDATE
                ) cv
            ), new AS (
                INSERT INTO conversations (tenant_id, channel_id, contact_id, queue_id, status,
                                           created_at, last_message_at, queued_at, bot_turns, unread_count)
                SELECT tid, chid, person, queue, status,
                       {_NOW}, {_NOW}, CASE WHEN status = 'queued' THEN {_NOW} END, 0, 0
                FROM pairs
                WHERE NOT EXISTS (
                    SELECT 1 FROM old WHERE old.channel_id = pairs.chid AND old.contact_id = pairs.person
                )
                ORDER BY chid, person
                ON CONFLICT (channel_id, contact_id) WHERE status <> 'resolved' DO NOTHING
                RETURNING *
            ), convs AS (
                SELECT false AS created, old.* FROM old UNION ALL SELECT true, new.* FROM new
            )"""


class Statements:
    def __init__(self) -> None:
        # Everything before the messages, in one statement: per delivery, stored already? whose
        # identity? (new contacts created with their identities; where another transaction took an
        # identity first, `won` is false and the caller drops the contact made here), and the open
        # conversation of each (channel, contact) (`_LOCK_OR_OPEN`). Lateral subqueries with LIMIT
        # keep every lookup an index probe whatever the statistics say (as joins they were planned
        # as hashes over whole tables).
        src = recordset(_PEOPLE, "u")
        self.people = _typed(
            f"""
            WITH i AS MATERIALIZED (
                SELECT u.*, known.contact_id, known.name AS known_name,
                       (SELECT true FROM messages s
                        WHERE s.channel_id = u.chid AND s.provider_message_id = u.pid LIMIT 1) AS stored
                FROM {src}
                LEFT JOIN LATERAL (
                    SELECT x.contact_id, c.name
                    FROM contact_identities x JOIN contacts c ON c.id = x.contact_id
                    WHERE x.tenant_id = u.tid AND x.kind = u.kind AND x.external_id = u.xid LIMIT 1
                ) known ON true
            ), made AS MATERIALIZED (
                SELECT nextval(pg_get_serial_sequence('contacts', 'id')) AS id, d.* FROM (
                    SELECT DISTINCT ON (tid, kind, xid) tid, kind, xid, name FROM i
                    WHERE stored IS NULL AND contact_id IS NULL
                    ORDER BY tid, kind, xid, name IS NULL, n
                ) d
            ), c AS (
                INSERT INTO contacts (id, tenant_id, name, lead_status, attributes, created_at)
                SELECT id, tid, name, 'new', CAST('{{}}' AS JSON), {_NOW} FROM made ORDER BY id
            ), w AS (
                INSERT INTO contact_identities (tenant_id, contact_id, kind, external_id)
                SELECT tid, id, kind, xid FROM made ORDER BY id
                ON CONFLICT (tenant_id, kind, external_id) DO NOTHING
                RETURNING contact_id
            ), who AS MATERIALIZED (
                SELECT i.n, i.chid, i.tid, i.queue, i.status, i.stored,
                       COALESCE(i.known_name, made.name) AS person_name, made.id AS made, w.contact_id AS won,
                       COALESCE(i.contact_id, w.contact_id) AS person
                FROM i
                LEFT JOIN made ON i.contact_id IS NULL AND i.stored IS NULL
                     AND made.tid = i.tid AND made.kind = i.kind AND made.xid = i.xid
                LEFT JOIN w ON w.contact_id = made.id
            ), pairs AS (
                SELECT DISTINCT ON (chid, person) chid, person, tid, queue, status FROM who
                WHERE stored IS NULL AND person IS NOT NULL
                ORDER BY chid, person
            ), {_LOCK_OR_OPEN}
            SELECT who.n, who.stored, who.person, who.person_name, who.made, who.won IS NOT NULL, convs.*
            FROM who LEFT JOIN convs ON convs.channel_id = who.chid AND convs.contact_id = who.person
            ORDER BY who.n
            """,
            m.conversations,
            column("n", Integer),
            column("stored", Boolean),
            column("person", BigInteger),
            column("person_name", String),
            column("made", BigInteger),
            column("won", Boolean),
            column("created", Boolean),
        )
        # `people`'s second half alone, for what a race left open: `_LOCK_OR_OPEN` over given rows.
        conv = Inserts(m.conversations, ["tenant_id", "channel_id", "contact_id", "queue_id", "status"])
        self.conversations = _typed(
            f"""
            WITH pairs AS (
                SELECT channel_id AS chid, contact_id AS person, tenant_id AS tid, queue_id AS queue, status
                FROM {conv.source}
                ORDER BY chid, person
            ), {_LOCK_OR_OPEN}
            SELECT * FROM convs
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


@dataclass(frozen=True)
class Person:
    """What the `people` statement found for one delivery."""

    stored: bool  # a repeated delivery: nothing else is filled in
    contact_id: int | None  # None: another transaction took the identity first (see `made`)
    contact_name: str | None
    made: int | None  # a contact created here; to be dropped when its identity was lost
    conversation: Mapping[Any, Any] | None  # None: look again (see `Statements.people`)
    created: bool  # the conversation was opened here


def people(conn: Connection, asked: Sequence[Mapping[str, Any]], now: datetime) -> list[Person]:
    """`asked`: per delivery, the channel (chid, queue, the status a new conversation starts in),
    the provider's message id (pid) and the identity (tid, kind, xid, name). One `Person` each, in
    order."""
    params = {"rows": rows_json(asked), "now": _naive(now)}
    found: list[Person] = []
    for r in conn.execute(stmts().people, params):
        conversation = r._mapping if r.id is not None else None
        found.append(
            Person(
                stored=bool(r.stored),
                contact_id=r.person,
                contact_name=r.person_name,
                made=r.made,
                conversation=conversation,
                created=bool(r.created),
            )
        )
    return found


def open_conversations(
    conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[tuple[bool, Mapping[Any, Any]]]:
    """`rows`: the conversation each (channel, contact) would open with. Returns (created, row) for
    every conversation found or opened."""
    s = stmts()
    params = {"rows": s.conversation_rows.params(rows), "now": _naive(now)}
    return [(r.created, r._mapping) for r in conn.execute(s.conversations, params)]


def insert_messages(
    conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[Mapping[Any, Any]]:
    """Inserts what is not stored yet and moves the conversations (but snoozed ones). Returns the
    inserted rows."""
    s = stmts()
    params = {"rows": s.message_rows.params(rows), "now": _naive(now)}
    return [r._mapping for r in conn.execute(s.messages, params)]

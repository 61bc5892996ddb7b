"""The statements ingest shares across its paths, built once (per dialect where ON CONFLICT needs it).

Owns one definition of each lookup (an identity, a message by provider id, a contact's open
conversation) and of the ON CONFLICT inserts that make ingest exactly-once: a repeated delivery, a
concurrent first message or a concurrent new conversation each insert nothing the second time.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, text, update

from inbox import models as m
from inbox.db import insert as dialect_insert
from inbox.db import per_dialect

cv, msg, idt, ct = m.conversations.c, m.messages.c, m.contact_identities.c, m.contacts.c

identity = select(idt.contact_id).where(
    idt.tenant_id == bindparam("tid"), idt.kind == bindparam("kind"), idt.external_id == bindparam("xid")
)
contact_name = select(ct.name).where(ct.id == bindparam("cid"))
open_conversation = select(m.conversations).where(
    cv.channel_id == bindparam("chid"), cv.contact_id == bindparam("cid"), cv.status != "resolved"
)
message_by_pid = select(m.messages).where(
    msg.channel_id == bindparam("chid"), msg.provider_message_id == bindparam("pid")
)
insert_contact = insert(m.contacts).returning(ct.id)
set_contact_name = update(m.contacts).where(ct.id == bindparam("cid"), ct.name.is_(None))


class OnConflict:
    """The dialect's ON CONFLICT inserts."""

    def __init__(self, dialect: str) -> None:
        self.insert_identity = (
            dialect_insert(dialect, m.contact_identities)
            .on_conflict_do_nothing(index_elements=["tenant_id", "kind", "external_id"])
            .returning(idt.contact_id)
        )
        self.insert_conversation = (
            dialect_insert(dialect, m.conversations)
            .on_conflict_do_nothing(
                index_elements=["channel_id", "contact_id"],
                # A literal, not a bound parameter: PostgreSQL must prove this implies the partial
                # index's predicate, which it cannot do for a generic plan's parameter (asyncpg
                # switches to generic plans after five executions).
                index_where=text("status <> 'resolved'"),
            )
            .returning(m.conversations)
        )
        self.insert_message = (
            dialect_insert(dialect, m.messages)
            .on_conflict_do_nothing(index_elements=["channel_id", "provider_message_id"])
            .returning(m.messages)
        )
        self.upsert_job = dialect_insert(dialect, m.jobs)
        self.upsert_job = self.upsert_job.on_conflict_do_update(
            index_elements=["kind", "key"], set_={"run_at": self.upsert_job.excluded.run_at}
        )


on_conflict = per_dialect(OnConflict)

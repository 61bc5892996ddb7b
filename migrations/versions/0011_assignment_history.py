"""assignment history, back-filled from what the conversations still tell; an index for the
reports' SLA breaches

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-10 09:00:00

What the existing rows allow: a handoff at `handed_off_at`, the current assignee's assignment at
`assigned_at` (reason `backfill`: automatic, manual or transfer is not known), and a resolution at
`resolved_at` closing the assignee's interval. What they cannot tell, and this history does not
invent: earlier holders and transfers (only the last assignee is kept on a conversation), who
assigned or resolved (no actor), and when an assignee without `assigned_at` got the conversation.
The counts are logged once (inbox.migrations) and documented in docs/routing.md.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

from inbox.models import Id, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

log = logging.getLogger("inbox.migrations")

# The tables as they are at this revision (not inbox.models, which moves on).
cv = sa.table(
    "conversations",
    sa.column("id", Id),
    sa.column("tenant_id", Id),
    sa.column("queue_id", Id),
    sa.column("status", sa.String),
    sa.column("assignee_id", Id),
    sa.column("assigned_at", UTCDateTime()),
    sa.column("handed_off_at", UTCDateTime()),
    sa.column("resolved_at", UTCDateTime()),
)
COLUMNS = (
    "tenant_id",
    "conversation_id",
    "at",
    "reason",
    "from_agent_id",
    "to_agent_id",
    "queue_id",
    "held_since",
)


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(12), nullable=False),
        sa.Column("from_agent_id", Id, nullable=True),
        sa.Column("to_agent_id", Id, nullable=True),
        sa.Column("actor_id", Id, nullable=True),
        sa.Column("queue_id", Id, nullable=True),
        sa.Column("held_since", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_assignments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_assignments_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    op.create_index(op.f("ix_assignments_conversation"), "assignments", ["conversation_id", "at"])
    op.create_index(op.f("ix_assignments_tenant_at"), "assignments", ["tenant_id", "at"])
    where = sa.text("sla_breached_at IS NOT NULL")
    op.create_index(
        "ix_conversations_sla_breached",
        "conversations",
        ["tenant_id", "sla_breached_at"],
        sqlite_where=where,
        postgresql_where=where,
    )
    _backfill()


def _backfill() -> None:
    conn = op.get_bind()
    for step in backfill_steps():
        conn.execute(insert_step(step))
    total = conn.execute(sa.select(sa.func.count()).select_from(cv)).scalar_one()
    if not total:
        return
    untimed = conn.execute(
        sa.select(sa.func.count()).where(cv.c.assignee_id.is_not(None), cv.c.assigned_at.is_(None))
    ).scalar_one()
    log.warning(
        "assignment history back-filled for %d conversations from their last state: earlier holders and "
        "transfers, who assigned or resolved, and automatic vs manual (reason 'backfill') are not known; "
        "%d assignees without an assignment time have no row",
        total,
        untimed,
    )


def insert_step(step: sa.Select[Any]) -> sa.Insert:
    a = sa.table("assignments", *(sa.column(c) for c in COLUMNS))
    return sa.insert(a).from_select(list(COLUMNS), step)


def backfill_steps() -> list[sa.Select[Any]]:
    """One INSERT ... SELECT each, set-based (a test runs them on rows shaped as before the history)."""

    def no_agent() -> sa.Cast[int]:  # typed: PostgreSQL reads a bare NULL in a SELECT as text
        return sa.cast(sa.null(), Id)

    steps = [
        # The bot's handoff: known, and when.
        sa.select(
            cv.c.tenant_id, cv.c.id, cv.c.handed_off_at, sa.literal("handoff"), no_agent(), no_agent(),
            cv.c.queue_id, sa.cast(sa.null(), UTCDateTime()),
        ).where(cv.c.handed_off_at.is_not(None)),
        # The last assignee's assignment: when, but not how (auto, manual or transfer) nor by whom.
        sa.select(
            cv.c.tenant_id, cv.c.id, cv.c.assigned_at, sa.literal("backfill"), no_agent(), cv.c.assignee_id,
            cv.c.queue_id, sa.cast(sa.null(), UTCDateTime()),
        ).where(cv.c.assignee_id.is_not(None), cv.c.assigned_at.is_not(None)),
        # The resolution closes the assignee's interval; who pressed resolve is not known.
        sa.select(
            cv.c.tenant_id, cv.c.id, cv.c.resolved_at, sa.literal("resolve"), cv.c.assignee_id, no_agent(),
            cv.c.queue_id, cv.c.assigned_at,
        ).where(cv.c.status == "resolved", cv.c.resolved_at.is_not(None)),
    ]  # fmt: skip
    return steps


def downgrade() -> None:
    op.drop_index("ix_conversations_sla_breached", table_name="conversations")
    op.drop_table("assignments")

"""reports read hours, not messages: report_hours and report_folds (filled by the rollup worker), and
the conversation's first responder, resolver and holder's start, back-filled from the history, and
the channel on the history's rows

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00

report_hours starts empty: the rollup worker's first pass folds every hour that is over, and until
then reports count live as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inbox.models import Id, UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

cv = sa.table(
    "conversations",
    sa.column("id", Id),
    sa.column("status", sa.String),
    sa.column("assignee_id", Id),
    sa.column("assigned_at", UTCDateTime),
    sa.column("resolved_at", UTCDateTime),
    sa.column("first_response_at", UTCDateTime),
    sa.column("first_responder_id", Id),
    sa.column("resolved_by_id", Id),
    sa.column("held_since", UTCDateTime),
)
cvc = sa.table("conversations", sa.column("id", Id), sa.column("channel_id", Id))
msg = sa.table(
    "messages",
    sa.column("id", Id),
    sa.column("conversation_id", Id),
    sa.column("sender_type", sa.String),
    sa.column("sender_id", Id),
    sa.column("direction", sa.String),
    sa.column("status", sa.String),
)
asg = sa.table(
    "assignments",
    sa.column("conversation_id", Id),
    sa.column("channel_id", Id),
    sa.column("at", UTCDateTime),
    sa.column("reason", sa.String),
    sa.column("actor_id", Id),
    sa.column("from_agent_id", Id),
)


def upgrade() -> None:
    op.add_column("conversations", sa.Column("first_responder_id", Id, nullable=True))
    op.add_column("conversations", sa.Column("resolved_by_id", Id, nullable=True))
    op.add_column("conversations", sa.Column("held_since", UTCDateTime(), nullable=True))
    op.add_column("assignments", sa.Column("channel_id", Id, nullable=True))
    op.create_table(
        "report_hours",
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(3), nullable=False),
        sa.Column("channel_id", Id, nullable=False),
        sa.Column("queue_id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_hours_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "hour", "kind", "channel_id", "queue_id", "agent_id", name=op.f("pk_report_hours")
        ),
    )
    op.create_table(
        "report_folds",
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("folded_until", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_folds_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_report_folds")),
    )
    # What reports looked up per conversation, now stored once: the sender of the first agent reply,
    first_reply = (
        sa.select(msg.c.sender_id)
        .where(
            msg.c.conversation_id == cv.c.id,
            msg.c.sender_type == "agent",
            msg.c.direction == "out",
            msg.c.status != "note",
        )
        .order_by(msg.c.id)
        .limit(1)
        .scalar_subquery()
    )
    op.execute(cv.update().where(cv.c.first_response_at.is_not(None)).values(first_responder_id=first_reply))
    # the resolver (the history's resolve row: its actor, else its holder; before it: the assignee),
    resolver = (
        sa.select(sa.func.coalesce(asg.c.actor_id, asg.c.from_agent_id))
        .where(asg.c.conversation_id == cv.c.id, asg.c.reason == "resolve", asg.c.at == cv.c.resolved_at)
        .limit(1)
        .scalar_subquery()
    )
    op.execute(
        cv.update()
        .where(cv.c.status == "resolved")
        .values(resolved_by_id=sa.func.coalesce(resolver, cv.c.assignee_id))
    )
    # and since when the current holder holds it (its latest history row, else its assignment).
    latest = sa.select(sa.func.max(asg.c.at)).where(asg.c.conversation_id == cv.c.id).scalar_subquery()
    op.execute(
        cv.update()
        .where(cv.c.status.in_(("assigned", "snoozed")), cv.c.assignee_id.is_not(None))
        .values(held_since=sa.func.coalesce(latest, cv.c.assigned_at))
    )
    # The history's rows carry their conversation's channel (reports group by it without a join).
    channel = sa.select(cvc.c.channel_id).where(cvc.c.id == asg.c.conversation_id).scalar_subquery()
    op.execute(asg.update().values(channel_id=channel))


def downgrade() -> None:
    op.drop_table("report_folds")
    op.drop_table("report_hours")
    op.drop_column("assignments", "channel_id")
    op.drop_column("conversations", "held_since")
    op.drop_column("conversations", "resolved_by_id")
    op.drop_column("conversations", "first_responder_id")

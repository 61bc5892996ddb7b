"""reports read running totals: report_days (every figure summed up to each of the tenant's local
midnights), report_hour_totals (one row per hour, with its first responses' median), and first
responses, the bot's conversations and the held ones indexed

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:00:00

Existing tenants are folded again from the start: the migration empties report_hours and
report_folds (the mark), so the rollup worker's next pass (within 2 minutes of the start) folds every tenant's
whole history into the three tables, as after migration 0013. Until then reports compute live, as before
(slower, the same figures within the documented approximation).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inbox.models import BOT_TOUCHED, HELD_NOW, Id, UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_hour_totals",
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("messages_in", sa.Integer(), nullable=False),
        sa.Column("messages_out", sa.Integer(), nullable=False),
        sa.Column("first_responses", sa.Integer(), nullable=False),
        sa.Column("first_response_median", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_report_hour_totals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "hour", name=op.f("pk_report_hour_totals")),
    )
    op.create_table(
        "report_days",
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
        sa.Column("figure", sa.String(16), nullable=False),
        sa.Column("key", Id, nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.Float(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_report_days_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "until", "figure", "key", "bucket", name=op.f("pk_report_days")),
    )
    op.create_index(
        op.f("ix_conversations_first_response"),
        "conversations",
        ["tenant_id", "first_response_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_conversations_bot"),
        "conversations",
        ["tenant_id", "created_at"],
        unique=False,
        sqlite_where=sa.text(BOT_TOUCHED),
        postgresql_where=sa.text(BOT_TOUCHED),
    )
    op.create_index(
        op.f("ix_conversations_held"),
        "conversations",
        ["tenant_id", "assignee_id", "held_since", "assigned_at"],
        unique=False,
        sqlite_where=sa.text(HELD_NOW),
        postgresql_where=sa.text(HELD_NOW),
    )
    # Fold every tenant again: the new figures are written by the fold only.
    op.execute(sa.text("DELETE FROM report_hours"))
    op.execute(sa.text("DELETE FROM report_folds"))


def downgrade() -> None:
    op.drop_index(op.f("ix_conversations_held"), table_name="conversations")
    op.drop_index(op.f("ix_conversations_bot"), table_name="conversations")
    op.drop_index(op.f("ix_conversations_first_response"), table_name="conversations")
    op.drop_table("report_days")
    op.drop_table("report_hour_totals")

"""account setup and audit: the audit log and per-channel webhook health

`audit_log` records admin changes, logins and failed logins (issue 19 item 3, issue 14 item 5);
`channel_health` holds the webhook counters the setup page and the supervisor view show (issue 14
items 4 and 6), flushed from memory at most once per few seconds per channel.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inbox.models

# Spelled out rather than imported, as in 0001: a migration must not change when the models do.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = inbox.models.UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", Id, nullable=True),
        sa.Column("actor_id", Id, nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target_type", sa.String(30), nullable=True),
        sa.Column("target_id", Id, nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_audit_log_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["agents.id"], name="fk_audit_log_actor_id_agents", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_tenant", "audit_log", ["tenant_id", "id"])
    op.create_table(
        "channel_health",
        sa.Column("channel_id", Id, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("last_event_at", UTCDateTime(), nullable=True),
        sa.Column("last_handshake_at", UTCDateTime(), nullable=True),
        sa.Column("signature_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_signature_failure_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name="fk_channel_health_channel_id_channels", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_channel_health_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("channel_id", name="pk_channel_health"),
    )


def downgrade() -> None:
    op.drop_table("channel_health")
    op.drop_index("ix_audit_log_tenant", table_name="audit_log")
    op.drop_table("audit_log")

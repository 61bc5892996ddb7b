"""automations and their runs; feedback (CSAT) on conversations; provider templates on messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inbox.models import Id, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("csat_requested_at", UTCDateTime(), nullable=True))
    op.add_column("conversations", sa.Column("csat_score", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("template", sa.JSON(), nullable=True))
    op.create_table(
        "automations",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("template_id", Id, nullable=False),
        sa.Column("channel_id", Id, nullable=True),
        sa.Column("offset_seconds", sa.Integer(), nullable=True),
        sa.Column("business_hours", sa.JSON(), nullable=True),
        sa.Column("while_bot", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_automations_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["template_id"], ["templates.id"], name=op.f("fk_automations_template_id_templates")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_automations_channel_id_channels"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automations")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_automations_tenant_id_name")),
    )
    op.create_index(op.f("ix_automations_trigger"), "automations", ["tenant_id", "trigger"])
    op.create_table(
        "automation_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("automation_id", Id, nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("occurrence", sa.String(100), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("conversation_id", Id, nullable=True),
        sa.Column("appointment_id", Id, nullable=True),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_automation_runs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_runs_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_automation_runs_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_automation_runs_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_automation_runs_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_automation_runs_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sa.UniqueConstraint(
            "automation_id",
            "contact_id",
            "occurrence",
            name=op.f("uq_automation_runs_automation_id_contact_id_occurrence"),
        ),
    )
    op.create_index(op.f("ix_automation_runs_automation"), "automation_runs", ["automation_id", "id"])
    op.create_index(op.f("ix_automation_runs_appointment"), "automation_runs", ["appointment_id"])


def downgrade() -> None:
    op.drop_table("automation_runs")
    op.drop_table("automations")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("template")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("csat_score")
        batch_op.drop_column("csat_requested_at")

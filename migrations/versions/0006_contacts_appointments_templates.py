"""contact profile (email, phone, birthday, opt-out), appointments, message templates

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inbox.models import Id, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("email", sa.String(320), nullable=True))
    op.add_column("contacts", sa.Column("phone", sa.String(40), nullable=True))
    op.add_column("contacts", sa.Column("birthday", sa.Date(), nullable=True))
    op.add_column("contacts", sa.Column("opted_out_at", UTCDateTime(), nullable=True))
    op.create_table(
        "appointments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", Id, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_appointments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_appointments_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["agents.id"], name=op.f("fk_appointments_created_by_agents"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index(op.f("ix_appointments_tenant_starts"), "appointments", ["tenant_id", "starts_at"])
    op.create_index(op.f("ix_appointments_contact"), "appointments", ["contact_id"])
    op.create_table(
        "templates",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("channel_kind", sa.String(20), nullable=True),
        sa.Column("provider_template", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_templates_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_templates_tenant_id_name")),
    )


def downgrade() -> None:
    op.drop_table("templates")
    op.drop_table("appointments")
    with op.batch_alter_table("contacts") as batch_op:
        for column in ("opted_out_at", "birthday", "phone", "email"):
            batch_op.drop_column(column)

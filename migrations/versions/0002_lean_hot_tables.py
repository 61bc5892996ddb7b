"""lean hot tables: no redundant foreign keys on messages and events, client ids indexed where set

Every webhook writes a message and an event; each foreign key is a trigger and an index probe per
row (a tenth of PostgreSQL's time for a webhook batch, measured). A message's tenant and channel are
its conversation's, which holds both as foreign keys and whose deletion cascades to its messages;
the event log's tenant rows are never deleted. Customers' messages have no client id, so the
idempotency key of agents' replies is indexed only where it is set.

On SQLite dropping a foreign key rebuilds the table; `inbox.migrate` runs migrations there with
foreign keys off, so that dropping the old `messages` does not cascade to the outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CLIENT_ID_SET = sa.text("client_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("fk_messages_tenant_id_tenants", type_="foreignkey")
        batch_op.drop_constraint("fk_messages_channel_id_channels", type_="foreignkey")
        batch_op.drop_constraint("uq_messages_tenant_id_client_id", type_="unique")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "uq_messages_tenant_id_client_id",
            ["tenant_id", "client_id"],
            unique=True,
            sqlite_where=_CLIENT_ID_SET,
            postgresql_where=_CLIENT_ID_SET,
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_events_tenant_id_tenants", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_events_tenant_id_tenants", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_messages_tenant_id_client_id", sqlite_where=_CLIENT_ID_SET, postgresql_where=_CLIENT_ID_SET
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_messages_tenant_id_client_id", ["tenant_id", "client_id"])
        batch_op.create_foreign_key(
            "fk_messages_channel_id_channels", "channels", ["channel_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            "fk_messages_tenant_id_tenants", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
        )

"""conversations: the running first-response clocks indexed (ix_conversations_sla_clock)

The routing worker's poll read, once a second, the oldest running SLA clock of every tenant by
reading every open conversation, answered or not (12-16 ms of the server's CPU per poll on SQLite
with 50,000 of them; docs/benchmark.md, growth), and each routing pass read all of its tenant's
unanswered ones to find the breaches. Now both are probes in a partial index on (tenant, clock) of
the conversations whose clock runs (inbox.models.SLA_RUNNING): the answered and flagged ones, most
of the open conversations, are not in it. The same on SQLite and PostgreSQL.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# As inbox.models spelled them when this revision was written (a migration does not follow later
# changes of the model's constants).
SLA_RUNNING = "status IN ('queued', 'assigned') AND first_response_at IS NULL AND sla_breached_at IS NULL"
SLA_CLOCK = "coalesce(handed_off_at, created_at)"

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_conversations_sla_clock"),
        "conversations",
        ["tenant_id", sa.text(SLA_CLOCK)],
        unique=False,
        sqlite_where=sa.text(SLA_RUNNING),
        postgresql_where=sa.text(SLA_RUNNING),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_conversations_sla_clock"), table_name="conversations")

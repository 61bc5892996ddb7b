"""system messages, automation runs' reasons and webhooks' disabled reasons keep their text as a code
and parameters (rendered in the agent's language)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older system messages keep only their English `text` (the browser shows it as it is).
    op.add_column("messages", sa.Column("text_code", sa.JSON(), nullable=True))
    op.add_column("automation_runs", sa.Column("reason_code", sa.JSON(), nullable=True))
    op.add_column("webhook_subscriptions", sa.Column("disabled_reason_code", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_subscriptions", "disabled_reason_code")
    op.drop_column("automation_runs", "reason_code")
    op.drop_column("messages", "text_code")

"""system messages keep their text as a code and parameters (rendered in the agent's language)

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older system messages keep only their English `text` (the browser shows it as it is).
    op.add_column("messages", sa.Column("text_code", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "text_code")

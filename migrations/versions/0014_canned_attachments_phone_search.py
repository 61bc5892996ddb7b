"""canned responses carry files; search finds a contact by the phone on its profile

- `canned_response_uploads`: the uploads a canned response brings into the composer, in order
  (issue 15 item 1, "attachments allowed").
- PostgreSQL: a trigram index over the digits of `contacts.phone` (the panel's field, free text such
  as "+55 (11) 91234-5678"), the expression inbox/search.py compares a phone-like query's digits
  with. Named `ix_search_*` like migration 0010's, which schema comparisons skip; skipped where
  `pg_trgm` is not installed. SQLite: nothing (its contacts are read).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inbox.models import Id

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Must read exactly as inbox/search.py's `phone_digits(contacts.phone)` compiles, or the planner
# does not use the index.
PHONE_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_search_contacts_phone ON contacts USING gin "
    "((replace(replace(replace(replace(replace(replace(replace(phone, ' ', ''), '(', ''), ')', ''), "
    "'+', ''), '-', ''), '.', ''), '/', '')) gin_trgm_ops)"
)


def upgrade() -> None:
    op.create_table(
        "canned_response_uploads",
        sa.Column("canned_response_id", Id, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("upload_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["canned_response_id"],
            ["canned_responses.id"],
            name=op.f("fk_canned_response_uploads_canned_response_id_canned_responses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.id"],
            name=op.f("fk_canned_response_uploads_upload_id_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("canned_response_id", "position", name=op.f("pk_canned_response_uploads")),
    )
    op.create_index(
        op.f("ix_canned_response_uploads_upload_id"), "canned_response_uploads", ["upload_id"], unique=False
    )
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        found = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
        if found is not None:
            op.execute(PHONE_INDEX)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_search_contacts_phone")
    op.drop_index(op.f("ix_canned_response_uploads_upload_id"), table_name="canned_response_uploads")
    op.drop_table("canned_response_uploads")

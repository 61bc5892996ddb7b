"""search: trigram indexes for contacts' names and identities (PostgreSQL)

`inbox bench --search` (1,000,000 messages) found the contacts half of a search reading every
contact of the tenant through `inbox_search_norm(name)` (unaccent costs microseconds a row) and every
identity through `lower(external_id)`: over 100 ms, against 2 ms for the messages half. The same
trigram GIN indexes as messages' (migration 0005) make both index lookups. Where `pg_trgm` is not
installed (0005 could not install it) nothing is created and search works as before, only slower.
SQLite: nothing (its contacts are few enough to read; measured in docs/benchmark.md).

Like 0005's, these indexes are dialect-specific and named `ix_search_*`, which schema comparisons
skip (inbox/models.py SEARCH_OBJECTS).

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_search_contacts_name": "contacts USING gin (inbox_search_norm(name) gin_trgm_ops)",
    "ix_search_contact_identities": "contact_identities USING gin (lower(external_id) gin_trgm_ops)",
}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    if conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first() is None:
        return
    for name, on in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")

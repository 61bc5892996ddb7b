"""faster search (PostgreSQL): trigram indexes for contacts, an inlinable `inbox_search_norm`

Found by `inbox bench --search` (1,000,000 messages; docs/benchmark.md):

- The contacts half of a search read every contact of the tenant through `inbox_search_norm(name)`
  and every identity through `lower(external_id)`: over 100 ms, against 2 ms for the messages half.
  The same trigram GIN indexes as messages' (migration 0005) make both index lookups; a third
  covers the contact's own e-mail (`contacts.email`, migration 0006), searched since.
- `inbox_search_norm` (0005) wraps `unaccent(regdictionary, text)`, which the extension declares
  STABLE; PostgreSQL inlines a SQL function only when its body is as immutable as the function, so
  every call went through the SQL-function executor: about 3 us a value against 0.6 us for the
  same work inlined, paid on every row a search rechecks or scans (43 ms against 8 ms for the
  14,000 contact names a two-letter query reads). `inbox_unaccent` is the extension's own C function
  (`unaccent_dict`: the same code, the same results) declared IMMUTABLE, the usual fix; results do
  not change, so the indexes on the function stay valid. Declaring a C function takes a superuser:
  without one the function stays as it was (slower, same results) and the migration goes on.

Where `pg_trgm` or `unaccent` is not installed (0005 could not), the matching part is skipped.
SQLite: nothing (its contacts are few enough to read, and FTS5 does the rest).

Like 0005's, these objects are dialect-specific; the indexes are named `ix_search_*`, which schema
comparisons skip (inbox/models.py SEARCH_OBJECTS).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_search_contacts_name": "contacts USING gin (inbox_search_norm(name) gin_trgm_ops)",
    "ix_search_contact_identities": "contact_identities USING gin (lower(external_id) gin_trgm_ops)",
    "ix_search_contacts_email": "contacts USING gin (lower(email) gin_trgm_ops)",
}
_NORM = (
    "CREATE OR REPLACE FUNCTION inbox_search_norm(value text) RETURNS text LANGUAGE sql IMMUTABLE STRICT"
    " PARALLEL SAFE AS $$ SELECT lower({}('public.unaccent'::regdictionary, value)) $$"
)


def _installed(conn: sa.Connection, extension: str) -> bool:
    found = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = :e"), {"e": extension}).first()
    return found is not None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    if _installed(conn, "unaccent"):
        try:
            with conn.begin_nested():  # refused without a superuser: keep 0005's function
                conn.execute(
                    sa.text(
                        "CREATE OR REPLACE FUNCTION public.inbox_unaccent(regdictionary, text) RETURNS text"
                        " LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS '$libdir/unaccent', 'unaccent_dict'"
                    )
                )
                conn.execute(sa.text(_NORM.format("public.inbox_unaccent")))
        except sa.exc.DBAPIError:
            pass
    if _installed(conn, "pg_trgm"):
        for name, on in INDEXES.items():
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    exists = conn.execute(sa.text("SELECT 1 FROM pg_proc WHERE proname = 'inbox_unaccent'")).first()
    if exists is not None:
        op.execute(_NORM.format("public.unaccent"))
        op.execute("DROP FUNCTION public.inbox_unaccent(regdictionary, text)")

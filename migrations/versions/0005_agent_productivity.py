"""agent productivity: canned responses, labels, message search

Canned responses and labels are plain tables. Search is dialect-specific and lives here only
(inbox/models.py lists it in SEARCH_OBJECTS so schema comparisons skip it):

- SQLite: an FTS5 table over messages.text with the trigram tokenizer (any substring of three or
  more characters, case-insensitive), an external-content table kept in sync by triggers.
- PostgreSQL: `inbox_search_norm(text)`, lower-cased and, where the `unaccent` extension can be
  installed, without accents; a trigram GIN index on it where `pg_trgm` can be installed (LIKE
  '%...%' then uses the index). Without either extension the function and the search still work,
  only slower or accent-sensitive.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tables() -> None:
    op.create_table(
        "canned_responses",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("short_code", sa.String(length=50), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by", Id, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["agents.id"], name="fk_canned_responses_created_by_agents", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_canned_responses_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_canned_responses"),
        sa.UniqueConstraint("tenant_id", "short_code", name="uq_canned_responses_tenant_id_short_code"),
    )
    op.create_table(
        "labels",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_labels_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_labels"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_labels_tenant_id_name"),
    )
    op.create_table(
        "conversation_labels",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("label_id", Id, nullable=False),
        sa.Column("tenant_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_labels_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["labels.id"], name="fk_conversation_labels_label_id_labels", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_conversation_labels_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("conversation_id", "label_id", name="pk_conversation_labels"),
    )
    op.create_index(
        "ix_conversation_labels_label", "conversation_labels", ["label_id", "conversation_id"], unique=False
    )


_SQLITE_SEARCH = [
    # External content: the FTS table stores only its index; the text stays in messages.
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "text, content='messages', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN"
    " INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages WHEN old.text IS NOT NULL BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    # An unsent message's text is cleared: its old words must stop matching.
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text)"
    " SELECT 'delete', old.id, old.text WHERE old.text IS NOT NULL;"
    " INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.text IS NOT NULL; END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
]


def _pg_extension(name: str) -> bool:
    """Install `name` if this server has it and we may; False otherwise (the migration goes on)."""
    conn = op.get_bind()
    available = conn.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = :n"), {"n": name}
    ).first()
    if available is None:
        return False
    try:
        with conn.begin_nested():  # a refused CREATE EXTENSION must not abort the migration
            conn.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS {name}"))
    except sa.exc.DBAPIError:
        return False
    return True


def _pg_search() -> None:
    # unaccent() is only STABLE (its dictionary could change); pinning the dictionary makes the
    # wrapper safe to declare IMMUTABLE, which an index expression requires.
    norm = (
        "lower(public.unaccent('public.unaccent'::regdictionary, value))"
        if _pg_extension("unaccent")
        else "lower(value)"
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION inbox_search_norm(value text) RETURNS text"
        f" LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT {norm} $$"
    )
    if _pg_extension("pg_trgm"):
        op.execute(
            "CREATE INDEX ix_search_messages_text ON messages"
            " USING gin (inbox_search_norm(text) gin_trgm_ops)"
        )


def upgrade() -> None:
    _tables()
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_SEARCH:
            op.execute(statement)
    else:
        _pg_search()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("messages_fts_ai", "messages_fts_ad", "messages_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_search_messages_text")
        op.execute("DROP FUNCTION IF EXISTS inbox_search_norm(text)")
    op.drop_index("ix_conversation_labels_label", table_name="conversation_labels")
    op.drop_table("conversation_labels")
    op.drop_table("labels")
    op.drop_table("canned_responses")

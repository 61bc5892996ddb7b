"""SQLite: the messages' full-text index is fed after commit, in batches, instead of by a trigger

Migration 0005's `messages_fts_ai` trigger put every inserted message into the trigram FTS5 table
inside the inserting transaction: a cost per message that grows with the index (436-463 us of CPU
per webhook on a seeded database against 230 with the trigger dropped, docs/benchmark.md), paid on
the webhook's critical path. Now inbox/search_index.py indexes what was committed, many messages
per transaction, from a worker.

- `search_indexed`: one row, the highest message id the index holds. Messages above it are not in
  the index yet; the indexer adds them and moves the mark in one transaction. Set here to the
  highest id there is: every existing message was indexed by the trigger, so nothing is back-filled.
- `messages_fts_ad` and `messages_fts_au` (a deleted message, an unsent one's cleared text) now act
  only on indexed messages: taking out of an external-content FTS5 table a row it never had corrupts
  it. A message not indexed yet is indexed later with the text it has then.
- Messages' ids are SQLite rowids (no AUTOINCREMENT): after the highest message is deleted the next
  insert takes its id again. So a deletion brings the mark down to the highest id left, or that new
  message would count as indexed (in `messages_fts_ad`, after the index entry goes).

PostgreSQL: nothing. Its trigram index (migrations 0005, 0010) is an index, not a trigger, and GIN
already defers its insertions to a pending list.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0016"
# The lead re-chains this to 0015 at merge (0015 is another branch's).
down_revision = "0015"
branch_labels = None
depends_on = None

_MARK = "(SELECT message_id FROM search_indexed WHERE id = 1)"

_UPGRADE = [
    "CREATE TABLE search_indexed (id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),"
    " message_id INTEGER NOT NULL)",
    "INSERT INTO search_indexed (id, message_id) SELECT 1, coalesce(max(id), 0) FROM messages",
    "DROP TRIGGER IF EXISTS messages_fts_ai",
    "DROP TRIGGER IF EXISTS messages_fts_ad",
    "DROP TRIGGER IF EXISTS messages_fts_au",
    # One trigger, so that the index entry goes before the mark moves (the order of two triggers on
    # one event is not defined).
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text)"
    f" SELECT 'delete', old.id, old.text WHERE old.text IS NOT NULL AND old.id <= {_MARK};"
    " UPDATE search_indexed SET message_id = (SELECT coalesce(max(id), 0) FROM messages)"
    " WHERE id = 1 AND message_id > (SELECT coalesce(max(id), 0) FROM messages); END",
    f"CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages WHEN new.id <= {_MARK} BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text)"
    " SELECT 'delete', old.id, old.text WHERE old.text IS NOT NULL;"
    " INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.text IS NOT NULL; END",
]

# Migration 0005's triggers, after indexing what was waiting.
_DOWNGRADE = [
    f"INSERT INTO messages_fts(rowid, text) SELECT id, text FROM messages WHERE id > {_MARK}"
    " AND text IS NOT NULL ORDER BY id",
    "DROP TRIGGER IF EXISTS messages_fts_ad",
    "DROP TRIGGER IF EXISTS messages_fts_au",
    "DROP TABLE search_indexed",
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN"
    " INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages WHEN old.text IS NOT NULL BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text)"
    " SELECT 'delete', old.id, old.text WHERE old.text IS NOT NULL;"
    " INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.text IS NOT NULL; END",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _DOWNGRADE:
            op.execute(statement)

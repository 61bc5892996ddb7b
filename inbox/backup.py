"""`inbox backup` / `inbox restore` for SQLite, and the lock a serving process holds on its database.

Owns copying an SQLite database with the online backup API (consistent while a server writes, WAL on)
and the checks around a restore. Must not touch PostgreSQL: there `pg_dump`/`pg_restore` do it better.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from inbox.config import Settings
from inbox.crypto import KEY_FILE, SecretBox
from inbox.errors import ActionError

POSTGRES_HINT = (
    "on PostgreSQL use pg_dump/pg_restore: "
    "pg_dump --format=custom --file=inbox.dump DBURL, then pg_restore --clean --if-exists --no-owner "
    "--dbname=DBURL inbox.dump (see README, Backups)"
)


class BackupError(ActionError):
    """A backup or restore that cannot go ahead; the message is the one line the CLI prints."""

    code = "backup_failed"


def sqlite_path(settings: Settings) -> Path | None:
    """The database file, or None when the database is not a file-backed SQLite one."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser().resolve()


def _lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".serving")


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[None]:
    """Held (shared) by every `inbox serve` process for its life, so that `inbox restore` can tell
    that a server is using the file. flock is released by the kernel when a process dies, so a
    crashed server never leaves a stale lock behind (a pid file would)."""
    db = sqlite_path(settings)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(db), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _served(db: Path) -> bool:
    lock = _lock_path(db)
    if not lock.exists():
        return False
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _require_sqlite(settings: Settings) -> Path:
    db = sqlite_path(settings)
    if db is None:
        if make_url(settings.database_url).get_backend_name() == "postgresql":
            raise BackupError(POSTGRES_HINT)
        raise BackupError("backup and restore work on a file-backed SQLite database only")
    return db


def _revision(path: Path) -> str:
    """The file's alembic revision; raises BackupError when it is not an inbox database."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open: {exc}") from None
    try:
        (check,) = con.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise BackupError(f"{path}: damaged database: {check}")
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        # "file is not a database", "no such table: alembic_version"
        raise BackupError(f"{path} is not an inbox database ({exc})") from None
    finally:
        con.close()
    if row is None:
        raise BackupError(f"{path} is not an inbox database (no migration recorded)")
    return str(row[0])


def _copy(source: sqlite3.Connection, dest_path: Path) -> None:
    """Copy through a temporary file renamed into place, so that a failed copy leaves nothing half
    written under the final name."""
    tmp = dest_path.with_name(f".{dest_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    dest = sqlite3.connect(tmp)
    try:
        # pages=-1 (the default) copies everything in one step, under one read transaction of the
        # source: a consistent snapshot, while the server's writer goes on (WAL readers do not block it).
        source.backup(dest)
        # The copy inherits WAL mode from the header; a backup is one self-contained file.
        dest.execute("PRAGMA journal_mode=DELETE")
        dest.commit()
    except BaseException:
        dest.close()
        tmp.unlink(missing_ok=True)
        raise
    dest.close()
    os.replace(tmp, dest_path)


def backup(settings: Settings, to: Path) -> str:
    db = _require_sqlite(settings)
    if not db.exists():
        raise BackupError(f"no database at {db}")
    revision = _revision(db)
    to = to.expanduser().resolve()
    if to == db:
        raise BackupError("the backup file cannot be the database itself")
    if not to.parent.is_dir():
        raise BackupError(f"no such directory: {to.parent}")
    source = sqlite3.connect(db, timeout=30)
    try:
        _copy(source, to)
    finally:
        source.close()
    return f"backed up {db} to {to} ({to.stat().st_size} bytes, revision {revision})"


def restore(settings: Settings, source_path: Path, *, force: bool) -> tuple[Path, str]:
    """Copy a backup over the configured database; the caller migrates after. Returns the database
    path and the revision the backup was at."""
    db = _require_sqlite(settings)
    source_path = source_path.expanduser().resolve()
    if not source_path.is_file():
        raise BackupError(f"no such file: {source_path}")
    if source_path == db:
        raise BackupError("the backup file is the database itself")
    revision = _revision(source_path)
    _known_revision(revision)
    if _served(db) and not force:
        raise BackupError(f"a running server holds {db}: stop it first (or pass --force)")
    db.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    try:
        if db.exists():
            # Into the live file through SQLite itself (not a file rename): a server still holding
            # it (--force) then reads the restored pages, and its WAL is reset along the way.
            dest = sqlite3.connect(db, timeout=30)
            try:
                source.backup(dest)
            finally:
                dest.close()
        else:
            _copy(source, db)
    finally:
        source.close()
    return db, revision


def _known_revision(revision: str) -> None:
    from alembic.script import ScriptDirectory

    from inbox.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        known = scripts.get_revision(revision) is not None
    except Exception:  # alembic raises its own ResolutionError / CommandError for an unknown id
        known = False
    if not known:
        raise BackupError(f"the backup is at revision {revision}, unknown to this version of inbox")


def key_warning(settings: Settings, db: Path) -> str | None:
    """Channel secrets are sealed with the data dir's key, which is not in the database: say so when
    the restored secrets do not open with the key this data dir would use."""
    key = settings.secret_key
    key_file = settings.data_dir / KEY_FILE
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = con.execute("SELECT secrets FROM channels LIMIT 1").fetchone()
    finally:
        con.close()
    if row is None:
        return None
    if not key and key_file.exists():
        key = key_file.read_text().strip()
    try:
        if key:
            SecretBox(key).open(row[0])
            return None
    except ValueError:
        pass
    return (
        f"channel secrets do not open with this data dir's key: copy {KEY_FILE} from the original "
        "data dir (or set INBOX_SECRET_KEY)"
    )

"""Operations commands of `inbox`: backup, restore, demo (registered from inbox/cli.py).

Owns their arguments and their one-line output; the work is in inbox/backup.py and demo/.
Errors are `ActionError`s (inbox.backup.BackupError), which cli.py prints as one line, exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from inbox.config import Settings


def cmd_backup(args: argparse.Namespace, settings: Settings) -> None:
    from inbox import backup

    sys.stdout.write(backup.backup(settings, Path(args.to)) + "\n")


def cmd_restore(args: argparse.Namespace, settings: Settings) -> None:
    from inbox import backup
    from inbox.db import create_engine
    from inbox.migrate import migrate

    db, revision = backup.restore(settings, Path(args.source), force=args.force)

    async def upgrade() -> None:
        engine = create_engine(settings.database_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    # A backup from an older version is brought up to this one's schema, as `inbox serve` would.
    asyncio.run(upgrade())
    warning = backup.key_warning(settings, db)
    line = (
        f"restored {Path(args.source).expanduser().resolve()} into {db} (from revision {revision}, migrated)"
    )
    sys.stdout.write(line + (f"; warning: {warning}" if warning else "") + "\n")


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    # The demo lives outside the core (demo/): it speaks one provider's wire format on purpose.
    from demo.run import demo_settings, run_demo

    run_demo(demo_settings(settings, args.data_dir), port=args.port, interval=args.interval)


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add the commands to `inbox`'s subparsers."""
    s = sub.add_parser("backup", help="copy the SQLite database while the server runs (online backup)")
    s.add_argument("--to", required=True, metavar="FILE")
    s.set_defaults(fn=cmd_backup)

    s = sub.add_parser("restore", help="replace the SQLite database with a backup, then migrate")
    s.add_argument("--from", dest="source", required=True, metavar="FILE")
    s.add_argument("--force", action="store_true", help="even while a server holds the database")
    s.set_defaults(fn=cmd_restore)

    s = sub.add_parser("demo", help="a demo clinic: simulated customers, a local fake hub and model")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--data-dir", help="where the demo keeps its database (default: a new temporary folder)")
    s.add_argument("--interval", type=float, default=15.0, help="seconds between customer messages (15)")
    s.set_defaults(fn=cmd_demo)

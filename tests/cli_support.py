"""The `inbox` command as a user runs it, for tests: a subprocess against a real database, its JSON
answer, or its one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run(args: list[str], database_url: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "INBOX_DATABASE_URL": database_url,
        "INBOX_DATA_DIR": str(data_dir),
        "INBOX_SECRET_KEY": "test-secret-key",
        **env,
    }
    environ.pop("OPENAI_API_KEY", None) if "OPENAI_API_KEY" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "inbox.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=data_dir,
    )


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def fails(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]

"""A newcomer's first `inbox serve` in an empty folder, as a real process; packaging; configuration."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from inbox.config import Settings
from tests.fakes.serve import free_port
from tests.serving import start_serve, stop_serve, wait_healthy


def _start(folder: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INBOX_", "OPENAI_"))}
    return start_serve(folder, port, env)


def test_first_serve_in_an_empty_folder_prints_how_to_log_in(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and 'type="email"' in page.text
    finally:
        out = stop_serve(proc)
    email = re.search(r"^\s+email\s+(\S+@\S+)$", out, re.M)
    password = re.search(r"^\s+password\s+(\S+)$", out, re.M)
    assert email and password, out
    assert f"http://127.0.0.1:{port}/" in out
    assert (tmp_path / "inbox.db").exists() and (tmp_path / "secret.key").exists()

    # Second start: same data, no new admin, no password printed; the printed one works.
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"email": email.group(1), "password": password.group(1)},
        )
        assert r.status_code == 200 and r.json()["agent"]["role"] == "admin"
    finally:
        out2 = stop_serve(proc)
    assert "password" not in out2


def test_settings_from_env_and_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "INBOX_LOG_LEVEL=warning\nNOTIFICAME_API_URL=http://127.0.0.1:9999/v1/\nINBOX_BOT_MODEL=from-dotenv\n"
    )
    s = Settings.from_env({"INBOX_BOT_MODEL": "from-env", "INBOX_DATA_DIR": str(tmp_path)}, dotenv=dotenv)
    assert s.log_level == "warning"
    assert s.provider_env["NOTIFICAME_API_URL"] == "http://127.0.0.1:9999/v1"
    assert s.bot_model == "from-env"  # the environment wins over .env
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve().as_posix()}/inbox.db"
    d = Settings.from_env({}, dotenv=tmp_path / "missing")
    assert (
        d.broadcast_url == "memory://"
        and d.provider_env["META_GRAPH_URL"] == "https://graph.facebook.com/v21.0"
    )


def test_wheel_ships_static_and_migrations(tmp_path: Path) -> None:
    """`pip install .` (not only -e) must carry static/, migrations/ and every Python package."""
    repo = Path(__file__).resolve().parents[2]
    # From a clean copy: a build/ folder left by an earlier build would lend the wheel its files.
    source = tmp_path / "source"
    skipped = ("build", "dist", "*.egg-info", ".git", "__pycache__", "*.db*", ".*cache")
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(*skipped))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    wheel = next(tmp_path.glob("inbox-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "inbox/static/index.html" in names
    assert "inbox/migrations/env.py" in names and "inbox/migrations/script.py.mako" in names
    assert any(n.startswith("inbox/migrations/versions/0001") for n in names)
    assert "channels/base.py" in names and "bot/__init__.py" in names
    # Every package of the source tree, its modules included (a package missing from pyproject's
    # list installs without error and fails at import time).
    for package in ("inbox", "channels", "bot", "benchmarks", "demo"):
        for module in (repo / package).rglob("*.py"):
            assert module.relative_to(repo).as_posix() in names, module

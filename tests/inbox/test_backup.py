"""`inbox backup` / `inbox restore` as a user runs them: real `inbox serve` processes, real webhooks
over HTTP, the backup taken while the server serves and writes, restored into a new data dir and
served from there."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from inbox.db import create_engine
from inbox.migrate import migrate
from tests.databases import PG_URL
from tests.fakes.serve import free_port
from tests.serving import start_serve, stop_serve, wait_healthy
from tests.support import Channel, notificame_message


def _env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INBOX_", "OPENAI_"))}
    return {**env, "INBOX_DATA_DIR": str(folder), "INBOX_LOG_LEVEL": "warning", **extra}


def _cli(folder: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox.cli", *args],
        cwd=folder,
        env=_env(folder, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr


def _read_first_run(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The admin's email and password, printed once by the first `inbox serve`."""
    assert proc.stdout is not None
    email = password = None
    deadline = time.monotonic() + 60
    while (email is None or password is None) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, "server exited before printing the first admin"
        if m := re.match(r"^\s+email\s+(\S+@\S+)$", line):
            email = m.group(1)
        if m := re.match(r"^\s+password\s+(\S+)$", line):
            password = m.group(1)
    assert email and password
    return email, password


def _everything(base: str, email: str, password: str) -> dict[str, list[str]]:
    """Each conversation's contact name -> its message texts, through the API."""
    r = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    convs = httpx.get(f"{base}/api/conversations", headers=headers).json()["items"]
    out: dict[str, list[str]] = {}
    for c in convs:
        msgs = httpx.get(f"{base}/api/conversations/{c['id']}/messages", headers=headers).json()["items"]
        out[c["contact"]["name"]] = [m["text"] for m in msgs if m["sender"]["type"] != "system"]
    return out


def test_backup_while_serving_restore_into_a_new_data_dir_and_serve(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    port_a = free_port()
    base_a = f"http://127.0.0.1:{port_a}"
    server_a = start_serve(a, port_a, _env(a))
    try:
        email, password = _read_first_run(server_a)
        wait_healthy(base_a, server_a, within=60)
        created = _cli(
            a,
            *("channel", "create", "--tenant", "1", "--kind", "whatsapp", "--provider", "notificame"),
            *("--name", "WhatsApp", "--notificame-channel", "nm-1", "--notificame-token", "tok-1", "--json"),
        )
        assert created.returncode == 0, created.stderr
        channel = json.loads(created.stdout)
        ch = Channel(
            channel["id"], "whatsapp", "notificame", channel["webhook_path"], channel, external_id="nm-1"
        )
        for i in range(5):
            body = notificame_message(
                ch, text=f"mensagem {i}", sender=f"551190000000{i}", name=f"Cliente {i}"
            )
            assert httpx.post(base_a + ch.webhook_path, json=body).status_code == 200

        # Webhooks keep coming while the backup runs: the copy must still be a consistent database.
        stop = threading.Event()
        during: list[int] = []

        def keep_writing() -> None:
            n = 0
            while not stop.is_set():
                body = notificame_message(ch, text=f"durante {n}", sender="5511988887777", name="Durante")
                r = httpx.post(base_a + ch.webhook_path, json=body)
                during.append(r.status_code)
                n += 1

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            deadline = time.monotonic() + 30
            while not during and time.monotonic() < deadline:
                time.sleep(0.01)
            done = _cli(a, "backup", "--to", str(tmp_path / "inbox.backup"))
        finally:
            stop.set()
            writer.join()
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("\n") == 1 and "backed up" in done.stdout
        assert set(during) == {200}

        # A running server holds A: restoring over it is refused, one line, and A is untouched.
        refused = _cli(a, "restore", "--from", str(tmp_path / "inbox.backup"))
        _one_line_error(refused, "a running server holds")
        assert len(_everything(base_a, email, password)["Durante"]) == len(during)
    finally:
        stop_serve(server_a, within=30)

    backup = tmp_path / "inbox.backup"
    assert not Path(str(backup) + "-wal").exists()  # one self-contained file
    # Into a new data dir without the key: restored, and told that channel secrets need it.
    restored = _cli(b, "restore", "--from", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.count("\n") == 1 and restored.stdout.startswith("restored ")
    assert "copy secret.key" in restored.stdout
    shutil.copy(a / "secret.key", b / "secret.key")
    again = _cli(b, "restore", "--from", str(backup))
    assert again.returncode == 0 and "warning" not in again.stdout, again.stdout

    port_b = free_port()
    base_b = f"http://127.0.0.1:{port_b}"
    server_b = start_serve(b, port_b, _env(b))
    try:
        wait_healthy(base_b, server_b, within=60)
        data = _everything(base_b, email, password)
        for i in range(5):
            assert data[f"Cliente {i}"] == [f"mensagem {i}"]
        # Messages that arrived during the copy: a prefix of them, in order (a snapshot, not a tear).
        kept = data.get("Durante", [])
        assert kept == [f"durante {n}" for n in range(len(kept))]
        # The restored channel serves webhooks (its key and secrets came back with it).
        body = notificame_message(ch, text="depois", sender="5511900000000", name="Cliente 0")
        assert httpx.post(base_b + ch.webhook_path, json=body).status_code == 200
        assert _everything(base_b, email, password)["Cliente 0"] == ["mensagem 0", "depois"]
    finally:
        out = stop_serve(server_b, within=30)
    assert "password" not in out  # the restored database has its tenant: no first run


def test_restore_checks_the_file_and_migrates(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir()
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database at all, " * 100)
    _one_line_error(_cli(target, "restore", "--from", str(text_file)), "not an inbox database")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    _one_line_error(_cli(target, "restore", "--from", str(other)), "not an inbox database")
    _one_line_error(_cli(target, "restore", "--from", str(tmp_path / "missing.db")), "no such file")
    assert not (target / "inbox.db").exists()  # nothing written by a refused restore
    _one_line_error(_cli(target, "backup", "--to", str(tmp_path / "x.backup")), "no database at")

    # A backup made by an older version (revision 0005) comes back at this version's head.
    old = tmp_path / "old.db"

    async def make_old() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{old}")
        try:
            await migrate(engine, "0005")
        finally:
            await engine.dispose()

    asyncio.run(make_old())
    done = _cli(target, "restore", "--from", str(old))
    assert done.returncode == 0, done.stderr
    assert "from revision 0005, migrated" in done.stdout
    head = _revision_of(target / "inbox.db")
    assert head != "0005" and head == _head()


def _revision_of(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return str(con.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        con.close()


def _head() -> Any:
    from alembic.script import ScriptDirectory

    from inbox.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL not configured (INBOX_TEST_DATABASE_URL)")
def test_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    url = PG_URL if "+asyncpg" in PG_URL else PG_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
    for args in (("backup", "--to", str(tmp_path / "x")), ("restore", "--from", str(tmp_path / "x"))):
        proc = _cli(tmp_path, *args, INBOX_DATABASE_URL=url)
        _one_line_error(proc, "pg_dump")
    assert list(tmp_path.iterdir()) == []

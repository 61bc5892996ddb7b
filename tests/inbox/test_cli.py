"""The `inbox` command as a user runs it: a subprocess against a real database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli_support import fails, ok_json, run


@pytest.fixture
def cli(database_url: str, data_dir: Path) -> Any:
    """The real command in a subprocess (console entry, argument parsing, exit codes)."""
    return lambda *args, **env: run(list(args), database_url, data_dir, **env)


@pytest.fixture
def cli_inproc(database_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    """`inbox.cli.main` in this process: the same code path, without an interpreter start per call."""
    from inbox.cli import main

    monkeypatch.setenv("INBOX_DATABASE_URL", database_url)
    monkeypatch.setenv("INBOX_DATA_DIR", str(data_dir))
    monkeypatch.setenv("INBOX_SECRET_KEY", "test-secret-key")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(data_dir)

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return call


def test_tenant_agent_channel_create_and_list(cli: Any, cli_inproc: Any) -> None:
    # The console entry in a real process once; the rest in-process (same code, faster).
    tenant = ok_json(cli("tenant", "create", "--name", "Clínica Sorriso", "--json"))
    cli = cli_inproc
    assert set(tenant) == {"id", "name"} and tenant["name"] == "Clínica Sorriso"
    tid = str(tenant["id"])
    agent = ok_json(
        cli(
            "agent",
            "create",
            "--tenant",
            tid,
            "--email",
            f"ana{tid}@clinica.test",
            "--name",
            "Ana",
            "--password",
            "s3nha-forte!",
            "--role",
            "supervisor",
            "--capacity",
            "7",
            "--json",
        )
    )
    assert (
        agent["email"] == f"ana{tid}@clinica.test"
        and agent["role"] == "supervisor"
        and agent["capacity"] == 7
    )
    assert "password" not in json.dumps(agent) and "s3nha-forte!" not in json.dumps(agent)

    ch = ok_json(
        cli(
            "channel",
            "create",
            "--tenant",
            tid,
            "--kind",
            "whatsapp",
            "--provider",
            "notificame",
            "--name",
            "WA",
            "--notificame-channel",
            "0f5a-uuid",
            "--notificame-token",
            "super-secret-token",
            "--json",
        )
    )
    assert ch["kind"] == "whatsapp" and ch["provider"] == "notificame"
    assert ch["webhook_path"].startswith("/webhooks/notificame/") and len(ch["webhook_path"]) > 40
    meta = cli(
        "channel",
        "create",
        "--tenant",
        tid,
        "--kind",
        "instagram",
        "--provider",
        "meta",
        "--name",
        "IG",
        "--external-id",
        "1784",
        "--app-secret",
        "app-s3cret",
        "--verify-token",
        "vt",
        "--access-token",
        "EAAtoken",
        "--json",
    )
    meta_json = ok_json(meta)
    assert meta_json["webhook_path"].startswith("/webhooks/meta/")
    for secret in ("super-secret-token", "app-s3cret", "EAAtoken"):
        assert secret not in meta.stdout + meta.stderr

    listed = ok_json(cli("channel", "list", "--tenant", tid, "--json"))
    assert [c["id"] for c in listed["items"]] == [ch["id"], meta_json["id"]]
    assert "super-secret-token" not in json.dumps(listed)
    agents = ok_json(cli("agent", "list", "--tenant", tid, "--json"))
    assert [a["email"] for a in agents["items"]] == [agent["email"]]

    disabled = ok_json(cli("agent", "disable", "--tenant", tid, "--id", str(agent["id"]), "--json"))
    assert disabled["disabled"] is True
    off = ok_json(cli("channel", "disable", "--tenant", tid, "--id", str(ch["id"]), "--json"))
    assert off["disabled"] is True


def test_cli_errors_are_one_line_and_exit_1(cli_inproc: Any, cli: Any) -> None:
    # Through the real entry point once (argparse's usage errors, exit status 1 not 2):
    fails(cli("agent", "create", "--tenant", "1"), "required")
    cli = cli_inproc
    fails(
        cli(
            "agent",
            "create",
            "--tenant",
            "999999",
            "--email",
            "x@y.test",
            "--name",
            "X",
            "--password",
            "long-enough",
            "--role",
            "agent",
            "--json",
        ),
        "unknown tenant 999999",
    )
    tid = str(ok_json(cli("tenant", "create", "--name", "T", "--json"))["id"])
    args = [
        "agent",
        "create",
        "--tenant",
        tid,
        "--email",
        f"dup{tid}@y.test",
        "--name",
        "D",
        "--password",
        "long-enough",
        "--role",
        "agent",
        "--json",
    ]
    ok_json(cli(*args))
    fails(cli(*args), "already exists")
    fails(
        cli(
            "agent",
            "create",
            "--tenant",
            tid,
            "--email",
            f"r{tid}@y.test",
            "--name",
            "R",
            "--password",
            "long-enough",
            "--role",
            "boss",
            "--json",
        ),
        "role must be one of",
    )
    fails(
        cli(
            "channel",
            "create",
            "--tenant",
            tid,
            "--kind",
            "whatsapp",
            "--provider",
            "notificame",
            "--name",
            "W",
            "--json",
        ),
        "--notificame-token",
    )
    fails(
        cli(
            "channel",
            "create",
            "--tenant",
            tid,
            "--kind",
            "fax",
            "--provider",
            "notificame",
            "--name",
            "W",
            "--notificame-channel",
            "u",
            "--notificame-token",
            "t",
            "--json",
        ),
        "kind must be one of",
    )
    fails(
        cli(
            "channel",
            "create",
            "--tenant",
            tid,
            "--kind",
            "whatsapp",
            "--provider",
            "notificame",
            "--name",
            "W",
            "--notificame-channel",
            "u",
            "--notificame-token",
            "t",
            "--bot",
            "--json",
        ),
        "OPENAI_API_KEY",
    )
    fails(cli("tenant", "create", "--name", "", "--json"), "must not be empty")


def test_cli_reports_an_unreachable_database(tmp_path: Path) -> None:
    proc = run(
        ["tenant", "create", "--name", "x", "--json"],
        "postgresql+asyncpg://postgres@127.0.0.1:1/nothing",
        tmp_path,
    )
    fails(proc, "database")

"""`inbox notificame check`, `inbox channel import` and `inbox channel test` as a user runs them, against
a real database and the fake Hub on loopback: the console entry in a real subprocess, the rest through
`inbox.cli.main` in a thread (same code path, no interpreter start per call). Every failure is one
line on stderr with exit status 1, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.notificame import FakeNotificame, Reply, hub_channel, notificame_app
from tests.fakes.serve import serve

TOKEN = "cli-hub-token-71"


@pytest.fixture
async def hub() -> AsyncIterator[tuple[str, FakeNotificame]]:
    app, fake = notificame_app(
        token=TOKEN, channels=[hub_channel("whatsapp", name="WA"), hub_channel("telegram", name="TG")]
    )
    async with serve(app) as base:
        yield base + "/v1", fake


async def subprocess_cli(
    database_url: str, data_dir: Path, hub_url: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess, waited for in a thread: the fake Hub is served by this loop."""
    environ = {
        **os.environ,
        "INBOX_DATABASE_URL": database_url,
        "INBOX_DATA_DIR": str(data_dir),
        "INBOX_SECRET_KEY": "test-secret-key",
        "NOTIFICAME_API_URL": hub_url,
        **env,
    }
    environ.pop("INBOX_PUBLIC_URL", None) if "INBOX_PUBLIC_URL" not in env else None
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "inbox.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=data_dir,
    )


@pytest.fixture
def cli(database_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    """`inbox.cli.main(args)` run in a thread (it runs its own event loop), with env overrides."""
    from inbox.cli import main

    monkeypatch.setenv("INBOX_DATABASE_URL", database_url)
    monkeypatch.setenv("INBOX_DATA_DIR", str(data_dir))
    monkeypatch.setenv("INBOX_SECRET_KEY", "test-secret-key")
    monkeypatch.delenv("INBOX_PUBLIC_URL", raising=False)
    monkeypatch.delenv("INBOX_SETUP_TIMEOUT_SECONDS", raising=False)
    monkeypatch.chdir(data_dir)

    def call(args: list[str]) -> int:
        try:
            main(args)
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    async def run(hub_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as scoped:
            scoped.setenv("NOTIFICAME_API_URL", hub_url)
            for name, value in env.items():
                scoped.setenv(name, value)
            code = await asyncio.to_thread(call, list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def one_line_failure(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert fragment in lines[0], lines[0]
    assert TOKEN not in proc.stderr


async def test_check_import_and_test_send(
    hub: tuple[str, FakeNotificame], cli: Any, database_url: str, data_dir: Path
) -> None:
    url, fake = hub

    async def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return await cli(url, *args, **env)

    tenant = ok_json(await run("tenant", "create", "--name", "CLI setup", "--json"))
    # The console entry once in a real process.
    checked = ok_json(
        await subprocess_cli(database_url, data_dir, url, "notificame", "check", "--token", TOKEN, "--json")
    )
    assert [(c["network"], c["kind"], c["channels"]) for c in checked["channels"]] == [
        ("whatsapp", "whatsapp", []),
        ("telegram", "telegram", []),
    ]
    human = await run("notificame", "check", "--token", TOKEN)
    assert human.returncode == 0 and "not imported" in human.stdout and "WA" in human.stdout
    # Without a public URL: channels made, nothing subscribed, the path to paste said.
    made = ok_json(
        await run("channel", "import", "--tenant", str(tenant["id"]), "--notificame-token", TOKEN, "--json")
    )
    assert [i["created"] for i in made["items"]] == [True, True] and made["public_url"] is None
    assert "INBOX_PUBLIC_URL" in made["note"] and fake.subscriptions == {}
    human = await run("channel", "import", "--tenant", str(tenant["id"]), "--notificame-token", TOKEN)
    assert (
        "already here" in human.stdout
        and "/webhooks/notificame/" in human.stdout
        and "INBOX_PUBLIC_URL" in human.stdout
    )
    # With one (flag or environment): subscribed, still the same channels.
    again = ok_json(
        await run("channel", "import", "--tenant", str(tenant["id"]), "--notificame-token", TOKEN, "--json",
                  INBOX_PUBLIC_URL="https://inbox.example.com")
    )  # fmt: skip
    assert [i["channel"]["id"] for i in again["items"]] == [i["channel"]["id"] for i in made["items"]]
    assert all(
        i["subscriptions"] == {"MESSAGE": "created", "MESSAGE_STATUS": "created"} for i in again["items"]
    )
    flag = ok_json(
        await run("channel", "import", "--tenant", str(tenant["id"]), "--notificame-token", TOKEN,
                  "--public-url", "https://inbox.example.com", "--json")
    )  # fmt: skip
    assert all(
        i["subscriptions"] == {"MESSAGE": "existing", "MESSAGE_STATUS": "existing"} for i in flag["items"]
    )
    checked = ok_json(await run("notificame", "check", "--token", TOKEN, "--json"))
    assert [[h["tenant_id"] for h in c["channels"]] for c in checked["channels"]] == [
        [tenant["id"]],
        [tenant["id"]],
    ]
    # A test send prints the provider's answer; a refusal its reason, as given.
    channel_id = str(made["items"][0]["channel"]["id"])
    sent = ok_json(
        await run(
            "channel", "test", "--channel", channel_id, "--to", "5511977776666", "--text", "Oi", "--json"
        )
    )
    assert sent == {"ok": True, "provider_message_id": fake.sent_ids[-1]}
    assert fake.last.json["to"] == "5511977776666"
    fake.script(Reply(400, json={"code": "VALIDATION_ERROR", "message": "Invalid recipient"}))
    refused = await run("channel", "test", "--channel", channel_id, "--to", "x", "--text", "Oi")
    one_line_failure(refused, "not sent: Notifica.me: Invalid recipient (VALIDATION_ERROR, HTTP 400)")
    one_line_failure(
        await run("channel", "test", "--channel", "987654321", "--to", "x", "--text", "Oi"), "unknown channel"
    )


async def test_failures_are_one_line(hub: tuple[str, FakeNotificame], cli: Any) -> None:
    url, fake = hub

    async def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return await cli(url, *args, **env)

    one_line_failure(await run("notificame", "check", "--token", "wrong"), "refused the token (HTTP 401)")
    fake.script(Reply(502))
    one_line_failure(await run("notificame", "check", "--token", TOKEN), "unavailable (HTTP 502)")
    fake.script(Reply(200, body=b"<html>oops</html>"))
    one_line_failure(await run("notificame", "check", "--token", TOKEN), "not a channel list")
    fake.script(Reply(delay=3.0))
    slow = await run("notificame", "check", "--token", TOKEN, INBOX_SETUP_TIMEOUT_SECONDS="0.5")
    one_line_failure(slow, "did not answer within 0.5 s")
    one_line_failure(
        await cli("http://127.0.0.1:9/v1", "notificame", "check", "--token", TOKEN),
        "cannot reach Notifica.me",
    )
    one_line_failure(
        await run("channel", "import", "--tenant", "1"), "give exactly one of --notificame-token"
    )
    one_line_failure(
        await run("channel", "import", "--tenant", "987654321", "--notificame-token", TOKEN), "unknown tenant"
    )

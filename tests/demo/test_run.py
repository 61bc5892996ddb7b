"""`inbox demo` as a newcomer runs it: a real subprocess, logins read from its output, customers'
conversations arriving through the API, an agent's reply going out to the demo's fake Hub and coming
back delivered, then Ctrl-C (SIGINT) and a clean exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.serve import free_port


def _until(what: str, fn: Any, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


def test_demo_comes_alive_an_agent_replies_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INBOX_", "OPENAI_", "NOTIFICAME_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inbox.cli",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--interval",
            "1",
        ],
        cwd=tmp_path,
        env={**env, "INBOX_LOG_LEVEL": "warning"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    out: list[str] = []
    try:
        assert proc.stdout is not None
        logins: dict[str, str] = {}
        while "carla@example.com" not in logins:
            line = proc.stdout.readline()
            assert line, "".join(out)
            out.append(line)
            if m := re.match(r"^\s+(agent|supervisor)\s+(\S+@\S+)\s+(\S+)$", line):
                logins[m.group(2)] = m.group(3)
        assert f"{base}/" in "".join(out)
        assert set(logins) == {"ana@example.com", "bruno@example.com", "carla@example.com"}

        r = httpx.post(
            f"{base}/api/auth/login", json={"email": "ana@example.com", "password": logins["ana@example.com"]}
        )
        assert r.status_code == 200 and r.json()["agent"]["role"] == "agent"
        headers = {"Authorization": f"Bearer {r.json()['token']}"}

        def conversations() -> list[dict[str, Any]]:
            return list(httpx.get(f"{base}/api/conversations", headers=headers).json()["items"])

        # The first customer writes at once: the default pace brings a conversation within a minute.
        # Instagram goes straight to the team, so an agent sees one waiting for a human.
        waiting = _until(
            "a customer waiting for the team",
            lambda: [c for c in conversations() if c["status"] in ("queued", "assigned")],
        )
        conv = waiting[0]
        first = httpx.get(f"{base}/api/conversations/{conv['id']}/messages", headers=headers).json()["items"]
        assert first[0]["direction"] == "in" and first[0]["text"]

        sent = httpx.post(
            f"{base}/api/conversations/{conv['id']}/messages",
            headers=headers,
            json={"text": "Olá! Sou a Ana."},
        )
        assert sent.status_code == 202, sent.text
        reply_id = sent.json()["id"]

        def reply_status() -> str | None:
            items = httpx.get(f"{base}/api/conversations/{conv['id']}/messages", headers=headers).json()[
                "items"
            ]
            status = next(m["status"] for m in items if m["id"] == reply_id)
            return status if status in ("sent", "delivered") else None

        _until("the reply accepted by the demo Hub", reply_status, within=30)
        # The fake Hub then reports it delivered, through the inbox's own webhook.
        _until("the reply delivered", lambda: reply_status() == "delivered", within=30)

        # The bot answers on WhatsApp, through the local fake model (the supervisor sees every conversation).
        r = httpx.post(
            f"{base}/api/auth/login",
            json={"email": "carla@example.com", "password": logins["carla@example.com"]},
        )
        sup = {"Authorization": f"Bearer {r.json()['token']}"}

        def bot_answered() -> bool:
            for c in httpx.get(f"{base}/api/conversations", headers=sup).json()["items"]:
                if c["channel"]["kind"] == "whatsapp":
                    items = httpx.get(f"{base}/api/conversations/{c['id']}/messages", headers=sup).json()[
                        "items"
                    ]
                    if any(m["sender"]["type"] == "bot" and m["text"] for m in items):
                        return True
            return False

        _until("a bot answer on WhatsApp", bot_answered)
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        out.append(rest)
    text = "".join(out)
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "Inbox demo stopped." in text

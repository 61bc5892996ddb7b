"""`inbox demo`: seed the clinic, start the fake Hub and model on loopback, serve the inbox, simulate.

Owns the wiring and the lifetime (Ctrl-C stops everything cleanly). Must not reach beyond 127.0.0.1:
the inbox's provider URL and model URL point at the in-process fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from demo.customers import simulate
from demo.fakes import FakeHub, FakeModel
from inbox.config import Settings

TENANT = "Clínica Demo"
HUB_TOKEN = "demo-hub-token"
CHANNELS = (
    # (kind, name, Hub channel id, bot)
    ("whatsapp", "WhatsApp Clínica Demo", "demo-hub-whatsapp", True),
    ("instagram", "Instagram @clinicademo", "demo-hub-instagram", False),
)
PEOPLE = (
    ("ana@example.com", "Ana Recepção", "agent"),
    ("bruno@example.com", "Bruno Atendimento", "agent"),
    ("carla@example.com", "Carla Supervisora", "supervisor"),
)


def _socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(app: Any, level: str) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=level, access_log=False, lifespan="on", ws_per_message_deflate=False)
    )
    # One loop serves three apps: the demo handles Ctrl-C itself and stops them in order.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    return server


async def seed(settings: Settings) -> tuple[list[tuple[str, str, str]] | None, dict[str, str]]:
    """The clinic, once per data dir: (logins with passwords, or None when it already existed;
    Hub channel id -> webhook path)."""
    from inbox.actions import admin
    from inbox.migrate import migrate
    from inbox.runtime import Runtime

    rt = Runtime(settings.but(workers=False))
    try:
        await migrate(rt.engine)
        async with rt.uow() as uow:
            tenant = next((t for t in await admin.list_tenants(uow) if t["name"] == TENANT), None)
            if tenant is not None:
                channels = await admin.list_channels(uow, tenant["id"])
                return None, {c["external_id"]: c["webhook_path"] for c in channels if c["external_id"]}
            tenant = await admin.create_tenant(uow, TENANT)
            queue = await admin.create_queue(uow, tenant["id"], "Recepção")
            logins = []
            for email, name, role in PEOPLE:
                password = secrets.token_urlsafe(9)
                agent = await admin.create_agent(
                    uow, tenant["id"], email=email, name=name, password=password, role=role, capacity=5
                )
                await admin.add_queue_member(uow, tenant["id"], queue["id"], agent["id"])
                logins.append((role, email, password))
            paths = {}
            for kind, name, hub_id, bot in CHANNELS:
                channel = await admin.create_channel(
                    uow,
                    tenant["id"],
                    kind=kind,
                    provider="notificame",
                    name=name,
                    external_id=hub_id,
                    secrets_={"notificame_token": HUB_TOKEN},
                    bot=bot,
                    queue_id=queue["id"],
                )
                paths[hub_id] = channel["webhook_path"]
            return logins, paths
    finally:
        await rt.stop()


def _announce(url: str, logins: list[tuple[str, str, str]] | None, interval: float, data_dir: Path) -> None:
    lines = [f"\nInbox demo: {TENANT} is open at {url}"]
    if logins is None:
        lines.append(
            f"  (the demo in {data_dir} already exists: log in with the passwords printed the first time)"
        )
    else:
        lines.append("  Logins (passwords are shown only this once):")
        lines += [f"  {role:<11} {email:<20} {password}" for role, email, password in logins]
    lines += [
        f"  Customers write every ~{interval:g} s: WhatsApp is answered by the bot first (ask for",
        '  "atendente" to reach a person), Instagram goes straight to the team. Ctrl-C stops the demo.',
        f"  Data: {data_dir}\n",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


async def _main(settings: Settings, port: int, interval: float) -> None:
    from inbox.app import create_app

    level = "info" if settings.log_level == "debug" else "warning"
    hub_sock, model_sock, inbox_sock = _socket(0), _socket(0), _socket(port)
    hub_url = f"http://127.0.0.1:{hub_sock.getsockname()[1]}"
    model_url = f"http://127.0.0.1:{model_sock.getsockname()[1]}"
    base = f"http://127.0.0.1:{port}"
    settings = settings.but(
        provider_env={**settings.provider_env, "NOTIFICAME_API_URL": hub_url + "/v1"},
        openai_api_key="demo",
        openai_base_url=model_url + "/v1",
        bot_model="demo",
        public_url=base,
    )
    logins, paths = await seed(settings)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with httpx.AsyncClient(timeout=10) as http:
        hub = FakeHub(lambda hub_id: base + paths[hub_id] if hub_id in paths else None, http)
        servers = [_server(hub.app(), level), _server(FakeModel().app(), level)]
        tasks = [
            asyncio.create_task(s.serve(sockets=[sock]))
            for s, sock in zip(servers, (hub_sock, model_sock), strict=True)
        ]
        inbox = _server(create_app(settings), level)
        inbox_task = asyncio.create_task(inbox.serve(sockets=[inbox_sock]))
        # uvicorn exposes only a flag for "listening"; a short poll until it is up (or failed).
        while not inbox.started and not inbox_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if inbox_task.done():
            inbox_task.result()
            return
        _announce(base + "/", logins, interval, settings.data_dir)
        webhooks = {
            kind: (base + paths[hub_id], hub_id) for kind, _name, hub_id, _bot in CHANNELS if hub_id in paths
        }
        customers = asyncio.create_task(simulate(http, webhooks, interval=interval, stop=stop))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([stopped, inbox_task], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await customers
        # The inbox first (its workers may still be sending to the Hub), then the fakes.
        inbox.should_exit = True
        await inbox_task
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*tasks)
    sys.stdout.write("Inbox demo stopped.\n")


def run_demo(settings: Settings, *, port: int, interval: float) -> None:
    from inbox.backup import serving

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with serving(settings):
        asyncio.run(_main(settings, port, interval))


def demo_settings(base: Settings, data_dir: str | None) -> Settings:
    """The demo's own SQLite database: in `data_dir`, else in a new temporary folder (never the
    configured production database)."""
    folder = (
        Path(data_dir).expanduser().resolve() if data_dir else Path(tempfile.mkdtemp(prefix="inbox-demo-"))
    )
    return base.but(
        data_dir=folder,
        database_url=f"sqlite+aiosqlite:///{(folder / 'inbox.db').as_posix()}",
        secret_key=None,
        broadcast_url="memory://",
    )

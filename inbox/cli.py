"""The `inbox` command: serve, migrate, admin commands (tenant, agent, channel, queue), bench.

`--json` prints one JSON object on stdout. Errors go to stderr as one line, with exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from channels import registry
from inbox.config import Settings
from inbox.errors import ActionError


class CliError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"inbox: {message}\n")
        raise SystemExit(1)


def _out(args: argparse.Namespace, data: Any, human: str) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        sys.stdout.write(human + "\n")


def _run(settings: Settings, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    from inbox.runtime import one_off

    return asyncio.run(one_off(settings, fn))


# --- commands -----------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    from inbox.db import create_engine
    from inbox.migrate import migrate

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(go())
    _out(args, {"status": "ok"}, "migrations applied")


def cmd_tenant(args: argparse.Namespace, settings: Settings) -> None:
    from inbox.actions import admin

    async def go(rt: Any) -> Any:
        async with rt.uow() as uow:
            if args.action == "create":
                return await admin.create_tenant(uow, args.name)
            return {"items": await admin.list_tenants(uow)}

    data = _run(settings, go)
    if args.action == "create":
        _out(args, {"id": data["id"], "name": data["name"]}, f"tenant {data['id']} {data['name']}")
    else:
        _out(args, data, "\n".join(f"{t['id']}\t{t['name']}" for t in data["items"]))


def cmd_agent(args: argparse.Namespace, settings: Settings) -> None:
    from inbox.actions import admin

    async def go(rt: Any) -> Any:
        async with rt.uow() as uow:
            if args.action == "create":
                return await admin.create_agent(
                    uow,
                    args.tenant,
                    email=args.email,
                    name=args.name,
                    password=args.password,
                    role=args.role,
                    capacity=args.capacity,
                )
            if args.action == "disable":
                return await admin.disable_agent(uow, args.tenant, args.id)
            return {"items": await admin.list_agents(uow, args.tenant)}

    data = _run(settings, go)
    if args.action == "list":
        lines = [f"{a['id']}\t{a['email']}\t{a['role']}\t{a['status']}" for a in data["items"]]
        _out(args, data, "\n".join(lines))
    else:
        _out(args, data, f"agent {data['id']} {data['email']} ({data['role']})")


def cmd_channel(args: argparse.Namespace, settings: Settings) -> None:
    from channels.registry import channel_fields
    from inbox import models as m
    from inbox.actions import admin

    async def go(rt: Any) -> Any:
        async with rt.uow() as uow:
            if args.action == "create":
                external_id, secrets, settings_ = channel_fields(args.provider, vars(args))
                return await admin.create_channel(
                    uow,
                    args.tenant,
                    kind=args.kind,
                    provider=args.provider,
                    name=args.name,
                    external_id=external_id,
                    secrets_=secrets,
                    bot=args.bot,
                    queue_id=args.queue,
                    settings=settings_,
                )
            if args.action == "list":
                return {"items": await admin.list_channels(uow, args.tenant)}
            values: dict[str, Any] = {}
            if args.action == "disable":
                values["disabled_at"] = m.utcnow()
            elif args.action == "enable":
                values["disabled_at"] = None
            elif args.action == "bot":
                values["bot_enabled"] = args.state == "on"
            return await admin.update_channel(uow, args.tenant, args.id, **values)

    if args.action == "bot" and args.state == "on" and not settings.openai_api_key:
        raise CliError("the bot needs OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI server)")
    if args.action == "create" and args.bot and not settings.openai_api_key:
        raise CliError("--bot needs OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI server)")
    data = _run(settings, go)
    if args.action == "list":
        lines = [
            f"{c['id']}\t{c['kind']}\t{c['provider']}\t{c['name']}\t{c['webhook_path']}"
            for c in data["items"]
        ]
        _out(args, data, "\n".join(lines))
    else:
        _out(
            args,
            data,
            f"channel {data['id']} {data['kind']}/{data['provider']} webhook: {data['webhook_path']}",
        )


def cmd_account_check(args: argparse.Namespace, settings: Settings) -> None:
    """`inbox <provider> check --token T`: the account's channels and whether this inbox has them."""
    from inbox import account_setup

    async def go(rt: Any) -> Any:
        return await account_setup.check(rt, args.token, provider=args.command)

    data = _run(settings, go)
    lines = []
    for c in data["channels"]:
        here = ", ".join(f"channel {h['id']} (tenant {h['tenant_id']})" for h in c["channels"])
        state = f"in this inbox as {here}" if here else ("not imported" if c["supported"] else "not served")
        lines.append(f"{c['network']}\t{c['external_id']}\t{c['name']}\t{state}")
    _out(args, data, "\n".join(lines) or "the account has no channels")


def cmd_channel_import(args: argparse.Namespace, settings: Settings) -> None:
    """`inbox channel import --tenant ID --<provider>-token T [--public-url URL]`."""
    from inbox import account_setup

    given = {p: getattr(args, o.dest) for p, o in registry.account_options().items() if getattr(args, o.dest)}
    if len(given) != 1:
        flags = " or ".join(o.flag for o in registry.account_options().values())
        raise CliError(f"give exactly one of {flags}")
    ((provider, token),) = given.items()

    async def go(rt: Any) -> Any:
        return await account_setup.import_account(
            rt, args.tenant, token, provider=provider, public_url=args.public_url
        )

    data = _run(settings, go)
    lines = []
    for item in data["items"]:
        if "skipped" in item:
            lines.append(f"{item['external_id']}: skipped, {item['skipped']}")
            continue
        ch = item["channel"]
        verb = "created" if item["created"] else "already here"
        where = item["webhook_url"] or ch["webhook_path"]
        subs = item["subscriptions"]
        state = item["error"] or (
            ", ".join(f"{k} {v}" for k, v in subs.items()) if subs else "not subscribed"
        )
        lines.append(f"channel {ch['id']} {ch['kind']} {ch['name']}: {verb}; webhook {where}; {state}")
    if data["note"]:
        lines.append(data["note"])
    _out(args, data, "\n".join(lines))


def cmd_channel_test(args: argparse.Namespace, settings: Settings) -> None:
    """`inbox channel test --channel ID --to ADDRESS --text T`: the provider's answer, as is."""
    from inbox import account_setup

    async def go(rt: Any) -> Any:
        return await account_setup.test_send(rt, args.channel, args.to, args.text)

    data = _run(settings, go)
    if not data["ok"]:
        if args.json:
            _out(args, data, "")
        raise CliError(f"not sent: {data['reason']}")
    _out(args, data, f"sent: provider message id {data['provider_message_id']}")


def cmd_queue(args: argparse.Namespace, settings: Settings) -> None:
    from inbox.actions import admin

    async def go(rt: Any) -> Any:
        async with rt.uow() as uow:
            if args.action == "create":
                return await admin.create_queue(uow, args.tenant, args.name)
            await admin.add_queue_member(uow, args.tenant, args.queue, args.agent)
            return {"queue_id": args.queue, "agent_id": args.agent}

    data = _run(settings, go)
    _out(args, data, json.dumps(data))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from inbox.serve import ServeError, serve

    try:
        status = serve(settings, host=args.host, port=args.port, processes=args.workers)
    except ServeError as exc:
        raise CliError(str(exc)) from None
    if status:
        raise SystemExit(status)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> None:
    from benchmarks.run import main as bench_main

    bench_main(args)


# --- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="inbox", description="A unified multichannel chat inbox.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("serve", help="run the server (migrates first)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--workers",
        type=int,
        help="server processes on this host:port (default INBOX_WORKERS, else 1); more than 1 needs "
        "INBOX_BROADCAST_URL=redis://...",
    )
    s.set_defaults(fn=cmd_serve)

    s = sub.add_parser("migrate", help="apply migrations and exit")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_migrate)

    t = sub.add_parser("tenant", help="tenants").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    s = t.add_parser("create")
    s.add_argument("--name", required=True)
    s.add_argument("--json", action="store_true")
    s = t.add_parser("list")
    s.add_argument("--json", action="store_true")
    for sp in t.choices.values():
        sp.set_defaults(fn=cmd_tenant)

    a = sub.add_parser("agent", help="agents").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    s = a.add_parser("create")
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--email", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--role", required=True, help="agent, supervisor or admin")
    s.add_argument("--capacity", type=int, default=5)
    s.add_argument("--json", action="store_true")
    s = a.add_parser("list")
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--json", action="store_true")
    s = a.add_parser("disable")
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--id", type=int, required=True)
    s.add_argument("--json", action="store_true")
    for sp in a.choices.values():
        sp.set_defaults(fn=cmd_agent)

    c = sub.add_parser("channel", help="channels").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    s = c.add_parser("create")
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--kind", required=True, help=", ".join(registry.kinds()))
    s.add_argument("--provider", required=True, help=", ".join(registry.providers()))
    s.add_argument("--name", required=True)
    for option in registry.options():  # each provider's own (channels/registry.py)
        if option.target == "setting":
            s.add_argument(option.flag, action="store_true", help=option.help)
        else:
            s.add_argument(option.flag, help=option.help)
    s.add_argument("--queue", type=int)
    s.add_argument("--bot", action="store_true")
    s.add_argument("--json", action="store_true")
    s = c.add_parser("list")
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--json", action="store_true")
    for action in ("disable", "enable"):
        s = c.add_parser(action)
        s.add_argument("--tenant", type=int, required=True)
        s.add_argument("--id", type=int, required=True)
        s.add_argument("--json", action="store_true")
    s = c.add_parser("bot", help="turn the bot on or off for a channel")
    s.add_argument("state", choices=["on", "off"])
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--id", type=int, required=True)
    s.add_argument("--json", action="store_true")
    for sp in c.choices.values():
        sp.set_defaults(fn=cmd_channel)
    # Account setup (issue 14): import a provider account's channels, send a test message.
    s = c.add_parser("import", help="one channel per channel of a provider account, webhooks subscribed")
    s.add_argument("--tenant", type=int, required=True)
    for option in registry.account_options().values():
        s.add_argument(option.flag, help=option.help)
    s.add_argument("--public-url", help="where the provider reaches this server (default INBOX_PUBLIC_URL)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_channel_import)
    s = c.add_parser("test", help="send one message through a channel and print the provider's answer")
    s.add_argument("--channel", type=int, required=True)
    s.add_argument("--to", required=True)
    s.add_argument("--text", required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_channel_test)
    for provider in registry.account_options():
        pa = sub.add_parser(provider, help=f"{provider} account").add_subparsers(
            dest="action", required=True, parser_class=_Parser
        )
        s = pa.add_parser("check", help="list the account's channels and whether this inbox has them")
        s.add_argument("--token", required=True)
        s.add_argument("--json", action="store_true")
        s.set_defaults(fn=cmd_account_check)

    q = sub.add_parser("queue", help="queues").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    s = q.add_parser("create")
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--json", action="store_true")
    s = q.add_parser("add-agent")
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--queue", type=int, required=True)
    s.add_argument("--agent", type=int, required=True)
    s.add_argument("--json", action="store_true")
    for sp in q.choices.values():
        sp.set_defaults(fn=cmd_queue)

    s = sub.add_parser("bench", help="the benchmark")
    s.add_argument("--json", action="store_true")
    s.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    s.add_argument("--quick", action="store_true")
    s.add_argument(
        "--search",
        action="store_true",
        help="only search latency, over a history it seeds (minutes: 1,000,000 messages on PostgreSQL)",
    )
    s.add_argument("--postgres-url")
    s.add_argument(
        "--only",
        choices=["outbound", "metrics", "automations", "growth", "scaleout"],
        help=(
            "one phase alone (with its setup); metrics: ingest with metrics on and off, A/B; "
            "automations: due reminders drained, ingest beside; growth: ingest and lists beside a "
            "seeded tenant; scaleout: ingest with `serve --workers 1` and 2, latency across processes "
            "(PostgreSQL and Redis)"
        ),
    )
    s.add_argument("--redis-url", help="--only scaleout: the Redis to use (default INBOX_TEST_REDIS_URL)")
    s.add_argument("--rounds", type=int, default=3, help="--only metrics, scaleout: A/B rounds (default 3)")
    s.set_defaults(fn=cmd_bench)

    # Operations (issue 19 items 9, 10): backup, restore, demo live in a module of their own.
    from inbox import cli_automation, cli_ops

    cli_ops.register(sub, _Parser)
    cli_automation.register(sub, _Parser)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        args.fn(args, settings)
    except (ActionError, CliError) as exc:
        msg = exc.message if isinstance(exc, ActionError) else str(exc)
        sys.stderr.write(f"inbox: {msg}\n")
        raise SystemExit(1) from None
    except Exception as exc:
        from inbox.db import is_connection_error

        if is_connection_error(exc):
            sys.stderr.write(f"inbox: cannot reach the database: {str(exc).splitlines()[0]}\n")
            raise SystemExit(1) from None
        if isinstance(exc, (OSError, ValueError)):
            sys.stderr.write(f"inbox: {type(exc).__name__}: {exc}\n")
            raise SystemExit(1) from None
        raise


if __name__ == "__main__":
    main()

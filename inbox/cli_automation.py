"""`inbox automation presets|list|enable|disable`: the ready-made automations and switching them, for
admins at a terminal (the same as the admin pages; inbox/automations/manage.py does the work)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from inbox.config import Settings


def cmd_automation(args: argparse.Namespace, settings: Settings) -> None:
    from inbox.automations import manage
    from inbox.runtime import one_off

    async def go(rt: Any) -> Any:
        if args.action == "presets":
            async with rt.uow() as uow:
                return {"items": await manage.install_presets(uow, args.tenant)}
        if args.action == "list":
            async with rt.engine.connect() as conn:
                return {"items": await manage.listing(conn, args.tenant)}
        async with rt.uow() as uow:
            return await manage.set_enabled(uow, args.tenant, args.id, args.action == "enable")

    data = asyncio.run(one_off(settings, go))
    if args.json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    rows = data["items"] if "items" in data else [data]
    for row in rows:
        state = "on " if row["enabled"] else "off"
        sys.stdout.write(f"{row['id']:>5}  {state}  {row['trigger']:<22}  {row['name']}\n")


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("automation", help="automations").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    s = group.add_parser(
        "presets", help="install the seven ready-made automations (disabled), Portuguese texts"
    )
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--json", action="store_true")
    s = group.add_parser("list")
    s.add_argument("--tenant", type=int, required=True)
    s.add_argument("--json", action="store_true")
    for action in ("enable", "disable"):
        s = group.add_parser(action)
        s.add_argument("--tenant", type=int, required=True)
        s.add_argument("--id", type=int, required=True)
        s.add_argument("--json", action="store_true")
    for sp in group.choices.values():
        sp.set_defaults(fn=cmd_automation)

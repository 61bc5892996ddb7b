"""The automations row: `due_reminders` reminder runs come due at once and the jobs worker drains them
(each decided, written as a system message and sent through the outbox to the fake Notifica.me),
while webhooks keep arriving.

Figures: runs decided per second, messages the provider accepted per second, and the webhook ingest
rate while draining against the same server's rate just before, without (target: no more than 10%
lower). The reminders are seeded by the bench (benchmarks/seed.py) in one transaction, as the
product writes them; the template and the automation go through the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

import httpx

from benchmarks import procs
from benchmarks.phases_http import ingest_spec, known_customers
from benchmarks.product import Product
from benchmarks.profile import Profile

POLL_SECONDS = 0.1
# While the timed ingest runs the drain is watched once a second: its two counts scan the tenant's
# messages and runs (some 5-10 ms of CPU each on SQLite at this size), which at ten looks a second
# took CPU from the server under test on the shared cores in the draining half only.
POLL_SECONDS_INGESTING = 1.0


async def _automation(port: int, token: str, channel_id: int) -> int:
    """A 24-hour reminder on the Notifica.me channel (the fake provider is Notifica.me's)."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        r = await http.post(
            "/api/templates",
            json={
                "name": "Lembrete 24 h",
                "body": "Olá, {{contact.first_name}}! Lembrete: {{appointment.title}} amanhã, "
                "{{appointment.date}} às {{appointment.time}}.",
            },
        )
        if r.status_code != 201:
            raise procs.BenchError(f"POST /api/templates answered {r.status_code}: {r.text[:200]}")
        r = await http.post(
            "/api/automations",
            json={
                "name": "Lembrete 24 h",
                "trigger": "appointment.reminder",
                "template_id": r.json()["id"],
                "channel_id": channel_id,
                "offset_seconds": 86_400,
                "enabled": True,
            },
        )
        if r.status_code != 201:
            raise procs.BenchError(f"POST /api/automations answered {r.status_code}: {r.text[:200]}")
        return int(r.json()["id"])


def _ingest_figures(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("rps", "latency_ms", "sent", "ok", "errors", "statuses")}


async def due_reminders(p: Profile, prod: Product, server: procs.Server, admin_token: str) -> dict[str, Any]:
    assert prod.db is not None
    db, port = prod.db, server.port
    await known_customers(p, prod, port)  # untimed: the contacts, their conversations, a warm server
    automation_id = await _automation(port, admin_token, prod.channel_ids[0])
    within = p.ingest_seconds + p.warmup_seconds + 120
    first_new = len(prod.known)
    inbound_before = await db.count_inbound(prod.tenant_id)
    base = await procs.loadgen(ingest_spec(p, prod, port, "ingest-alone", 21, first_new), within)
    first_new += base["sent"]
    sent0 = await db.sent_by_automations(prod.tenant_id)

    count = p.due_reminders
    contacts = await db.due_reminders(prod.tenant_id, automation_id, prod.channel_ids[0], count)
    if not contacts:
        raise procs.BenchError("no conversations on the Notifica.me channel to remind")
    t0 = time.monotonic()
    marks: dict[str, float] = {}
    last: dict[str, Any] = {"runs": {}, "sent": 0, "at": t0, "cpu": server.cpu_seconds()}
    ingest_over = asyncio.Event()

    def decided(runs: dict[str, int]) -> int:
        return sum(n for status, n in runs.items() if status != "pending")

    async def watch() -> None:
        deadline = t0 + max(60.0, count / 5)  # 5 runs/s at the least: a loaded box
        while time.monotonic() < deadline:
            runs = await db.runs_by_status(automation_id)
            sent = await db.sent_by_automations(prod.tenant_id) - sent0
            last.update(runs=runs, sent=sent, at=time.monotonic(), cpu=server.cpu_seconds())
            if "decided" not in marks and decided(runs) >= count:
                marks["decided"] = last["at"]
            if sent >= count:
                marks["sent"] = last["at"]
                return
            if ingest_over.is_set():
                await asyncio.sleep(POLL_SECONDS)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ingest_over.wait(), POLL_SECONDS_INGESTING)

    watcher = asyncio.create_task(watch())
    profiled = bool(os.environ.get("INBOX_BENCH_PROFILE"))  # the draining window (benchmarks/profiled.py)
    try:
        if profiled:
            os.kill(server.pid, signal.SIGUSR1)
        during = await procs.loadgen(ingest_spec(p, prod, port, "ingest-draining", 22, first_new), within)
        ingest_end = time.monotonic()
        if profiled:
            os.kill(server.pid, signal.SIGUSR2)
        ingest_over.set()
        mid_cpu, mid_runs = server.cpu_seconds(), decided(await db.runs_by_status(automation_id))
        await watcher
    finally:
        watcher.cancel()
    accepted = base["ok"] + during["ok"]
    committed = await db.count_inbound(prod.tenant_id) - inbound_before
    runs = last["runs"]
    elapsed = max(last["at"] - t0, 1e-9)
    decided_s = marks["decided"] - t0 if "decided" in marks else None
    sent_s = marks["sent"] - t0 if "sent" in marks else None
    # Server CPU per reminder (decided and sent) once the timed ingest was over: a figure that moves
    # less with the machine's load than the time the drain takes.
    after = decided(runs) - mid_runs
    cpu_ms = round((last["cpu"] - mid_cpu) / after * 1000, 2) if after > 0 else None
    return {
        "reminders": count,
        "contacts": contacts,
        "runs": runs,
        "provider_accepted": last["sent"],
        # From the seeding commit: includes up to a second before the jobs worker's next look.
        "decided_seconds": None if decided_s is None else round(decided_s, 2),
        # All decided: count / that time. Not all by the deadline: those decided / the time taken.
        "runs_per_second": round(count / decided_s, 1) if decided_s else round(decided(runs) / elapsed, 1),
        "complete": decided_s is not None and sent_s is not None,
        "sent_seconds": None if sent_s is None else round(sent_s, 2),
        "sent_per_second": round(count / sent_s, 1) if sent_s else round(last["sent"] / elapsed, 1),
        "server_cpu_ms_per_reminder": cpu_ms,
        "ingest_alone": _ingest_figures(base),
        "ingest_draining": _ingest_figures(during),
        "ingest_ratio": round(during["rps"] / base["rps"], 3) if base["rps"] else None,
        # The timed ingest began after the seeding; it was all spent draining if runs were still
        # pending when it ended. If not, the ratio understates what draining costs.
        "drain_covered_ingest": decided_s is None or marks["decided"] > ingest_end,
        "verified_ingest": committed == accepted and not base["errors"] and not during["errors"],
        "verified_runs": runs.get("sent", 0) == count and last["sent"] == count,
    }

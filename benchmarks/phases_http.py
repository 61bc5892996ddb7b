"""HTTP phases: the bare baseline, webhook ingest (every accepted message verified in the database),
and outbound replies drained by the outbox into a fake Notifica.me.

Each phase returns plain dicts of figures; run.py turns them into the table and the JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

from benchmarks import procs
from benchmarks.payloads import Target, http_post, sender
from benchmarks.product import Product
from benchmarks.profile import Profile

# Realistic webhook mix: about this share of messages come from customers never seen before.
NEW_RATIO = 0.3


def _closed(port: int, targets: list[Target], run_id: str, connections: int, **more: Any) -> dict[str, Any]:
    return {
        "mode": "closed",
        "port": port,
        "targets": [t.to_json() for t in targets],
        "run_id": run_id,
        "connections": connections,
        **more,
    }


async def bare_http(p: Profile, sample: list[Target]) -> dict[str, Any]:
    """The same generator, connections and webhook bodies as ingest, into a Starlette app that only
    reads and parses the body."""
    port = procs.free_port()
    server = procs.Server(procs.python("benchmarks.bare", "http", "--port", str(port)), port)
    async with procs.running(server):
        spec = _closed(
            port,
            sample,
            "bare",
            p.connections,
            duration=p.http_seconds,
            warmup=p.warmup_seconds,
            cycle=True,
            mix={"known": [], "count": 5000, "new_ratio": NEW_RATIO, "seed": 7, "first_new": 0},
        )
        cpu0 = server.cpu_seconds()
        r = await procs.loadgen(spec, p.http_seconds + p.warmup_seconds + 60)
        cpu = server.cpu_seconds() - cpu0
    if r["errors"] or r["ok"] != r["sent"]:
        raise procs.BenchError(f"bare HTTP baseline had failures: {r['statuses']} errors={r['errors']}")
    r["server_cpu_us_per_request"] = round(cpu / max(r["sent"], 1) * 1e6)
    return r


async def ingest(p: Profile, prod: Product, server: procs.Server) -> dict[str, Any]:
    """Known customers first (untimed: they make the 'known' part of the mix and warm the server),
    then the timed mix of known and new customers. Committed rows must equal the 200s."""
    assert prod.db is not None
    port = server.port
    known = [(i % 2, sender(i % 2, i)) for i in range(p.known_contacts)]
    warm = await procs.loadgen(
        _closed(
            port,
            prod.targets,
            "warm",
            p.connections,
            duration=600,
            messages=[(ti, who, "Olá, bom dia!") for ti, who in known],
        ),
        600,
    )
    prod.known = known
    await prod.db.analyze()
    cap = int((p.ingest_seconds + p.warmup_seconds) * p.ingest_cap_per_second)
    cpu0, (busy0, all0) = server.cpu_seconds(), procs.machine_busy()
    if os.environ.get("INBOX_BENCH_PROFILE"):
        os.kill(server.pid, signal.SIGUSR1)
    timed = await procs.loadgen(
        _closed(
            port,
            prod.targets,
            "ingest",
            p.connections,
            duration=p.ingest_seconds,
            warmup=p.warmup_seconds,
            mix={"known": known, "count": cap, "new_ratio": NEW_RATIO, "seed": 11, "first_new": len(known)},
        ),
        p.ingest_seconds + p.warmup_seconds + 120,
    )
    cpu, (busy, all_) = server.cpu_seconds() - cpu0, procs.machine_busy()
    if os.environ.get("INBOX_BENCH_PROFILE"):
        os.kill(server.pid, signal.SIGUSR2)
    accepted = warm["ok"] + timed["ok"]
    committed = await prod.db.count_inbound(prod.tenant_id)
    return {
        "rps": timed["rps"],
        "latency_ms": timed["latency_ms"],
        "generator_cpu": timed["generator_cpu"],
        # Server CPU per webhook (its one process; the database's own processes not included), and
        # how busy the whole machine was: near 1.0 means every core was taken, by us or others.
        "server_cpu_us_per_webhook": round(cpu / max(timed["sent"], 1) * 1e6),
        "machine_busy": round((busy - busy0) / max(all_ - all0, 1e-9), 2),
        "accepted": accepted,
        "committed": committed,
        "non_200": {k: v for k, v in {**warm["statuses"], **timed["statuses"]}.items() if k != "200"},
        "errors": warm["errors"] + timed["errors"],
        "verified": committed == accepted and not timed["errors"] and timed["ok"] == timed["sent"],
        "exhausted": timed["sent"] >= cap,
    }


async def outbound(p: Profile, prod: Product, port: int, supervisor_token: str) -> dict[str, Any]:
    """`count` replies queued in one transaction (messages + outbox rows, as create_reply writes
    them), the worker woken by one more reply through the API; time until all are `sent`."""
    assert prod.db is not None
    db = prod.db
    nm_known = [who for ti, who in prod.known if ti == 0]
    convs = await db.conversations_of(prod.tenant_id, prod.channel_ids[0], nm_known)
    pairs = [(cid, prod.channel_ids[0]) for cid in convs.values()]
    if not pairs:
        raise procs.BenchError("no conversations to reply to")
    before = await db.count_status(prod.tenant_id, "sent")
    await db.queue_replies(prod.tenant_id, pairs, p.outbound_replies)
    t0 = time.monotonic()
    body = json.dumps({"text": "Obrigado pelo contato!"}).encode()
    wake = http_post(
        f"/api/conversations/{pairs[0][0]}/messages", body, {"Authorization": f"Bearer {supervisor_token}"}
    )
    status, _ = await procs.post(port, wake)
    if status != 202:
        raise procs.BenchError(f"reply through the API answered {status}")
    total = p.outbound_replies + 1
    deadline = t0 + max(30.0, p.outbound_replies / 20)
    sent = 0
    while time.monotonic() < deadline:
        sent = await db.count_status(prod.tenant_id, "sent") - before
        if sent >= total:
            break
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - t0
    return {
        "replies": total,
        "sent": sent,
        "seconds": round(elapsed, 3),
        "rps": round(sent / elapsed, 1) if sent >= total else None,
        "failed": await db.count_status(prod.tenant_id, "failed"),
    }

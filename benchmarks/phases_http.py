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
from pathlib import Path
from typing import Any, Protocol

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


async def known_customers(p: Profile, prod: Product, port: int) -> dict[str, Any]:
    """Untimed: the customers who wrote before (the 'known' part of the ingest mix, and the
    conversations the outbound phase replies to), then fresh statistics."""
    assert prod.db is not None
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
    return warm


def ingest_spec(
    p: Profile, prod: Product, port: int, run_id: str, seed: int, first_new: int
) -> dict[str, Any]:
    """The timed webhook mix: known customers (`prod.known`) and new ones numbered from `first_new`;
    `run_id` keeps its provider message ids apart from every other run's."""
    return _closed(
        port,
        prod.targets,
        run_id,
        p.connections,
        duration=p.ingest_seconds,
        warmup=p.warmup_seconds,
        mix={
            "known": prod.known,
            "count": ingest_cap(p),
            "new_ratio": NEW_RATIO,
            "seed": seed,
            "first_new": first_new,
        },
    )


def ingest_cap(p: Profile) -> int:
    """How many requests a timed ingest builds beforehand (more are never sent)."""
    return int((p.ingest_seconds + p.warmup_seconds) * p.ingest_cap_per_second)


class Meter(Protocol):
    """Figures taken around the timed part of an ingest (the scale-out phase's CPU by process)."""

    async def start(self) -> None: ...
    async def stop(self) -> dict[str, Any]: ...


async def ingest(
    p: Profile, prod: Product, server: procs.Server, again: int = 0, meter: Meter | None = None
) -> dict[str, Any]:
    """Known customers first (untimed: they make the 'known' part of the mix and warm the server),
    then the timed mix of known and new customers. Committed rows must equal the 200s.
    `again`: the n-th repeat on the same database (the growth phase): the known customers wrote
    already, and its messages and new customers are its own."""
    assert prod.db is not None
    port = server.port
    cap = ingest_cap(p)
    before = await prod.db.count_inbound(prod.tenant_id)
    no_warm_up: dict[str, Any] = {"ok": 0, "statuses": {}, "errors": 0}
    warm = await known_customers(p, prod, port) if not again else no_warm_up
    cpu0, (busy0, all0) = server.cpu_seconds(), procs.machine_busy()
    if os.environ.get("INBOX_BENCH_PROFILE"):
        os.kill(server.pid, signal.SIGUSR1)
    if meter is not None:
        await meter.start()
    timed = await procs.loadgen(
        ingest_spec(p, prod, port, f"ingest{again or ''}", 11 + again, len(prod.known) + again * cap),
        p.ingest_seconds + p.warmup_seconds + 120,
    )
    cpu, (busy, all_) = server.cpu_seconds() - cpu0, procs.machine_busy()
    metered = {} if meter is None else {"cpu": await meter.stop()}
    if os.environ.get("INBOX_BENCH_PROFILE"):
        os.kill(server.pid, signal.SIGUSR2)
    accepted = warm["ok"] + timed["ok"]
    committed = await prod.db.count_inbound(prod.tenant_id) - before
    return {
        "rps": timed["rps"],
        "latency_ms": timed["latency_ms"],
        "generator_cpu": timed["generator_cpu"],
        # Server CPU per webhook (its processes; the database's own processes not included), and
        # how busy the whole machine was: near 1.0 means every core was taken, by us or others.
        "server_cpu_us_per_webhook": round(cpu / max(timed["sent"], 1) * 1e6),
        "machine_busy": round((busy - busy0) / max(all_ - all0, 1e-9), 2),
        "sent": timed["sent"],
        "accepted": accepted,
        "committed": committed,
        "non_200": {k: v for k, v in {**warm["statuses"], **timed["statuses"]}.items() if k != "200"},
        "errors": warm["errors"] + timed["errors"],
        "verified": committed == accepted and not timed["errors"] and timed["ok"] == timed["sent"],
        "exhausted": timed["sent"] >= cap,
        **metered,
    }


async def outbound(
    p: Profile, prod: Product, server: procs.Server, supervisor_token: str, counts: Path | None = None
) -> dict[str, Any]:
    """`count` replies queued in one transaction (messages + outbox rows, as create_reply writes
    them), the worker woken by one more reply through the API; time until all are `sent`. With
    `counts` (a server under benchmarks/counted.py), also its statements and transactions per reply."""
    assert prod.db is not None
    db = prod.db
    nm_known = [who for ti, who in prod.known if ti == 0]
    convs = await db.conversations_of(prod.tenant_id, prod.channel_ids[0], nm_known)
    pairs = [(cid, prod.channel_ids[0]) for cid in convs.values()]
    if not pairs:
        raise procs.BenchError("no conversations to reply to")
    before = await db.count_status(prod.tenant_id, "sent")
    await db.queue_replies(prod.tenant_id, pairs, p.outbound_replies)
    if counts is not None:
        _read_counts(counts, remove=True)
        os.kill(server.pid, signal.SIGUSR1)
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    body = json.dumps({"text": "Obrigado pelo contato!"}).encode()
    wake = http_post(
        f"/api/conversations/{pairs[0][0]}/messages", body, {"Authorization": f"Bearer {supervisor_token}"}
    )
    status, _ = await procs.post(server.port, wake)
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
    cpu = server.cpu_seconds() - cpu0
    out: dict[str, Any] = {
        "replies": total,
        "sent": sent,
        "seconds": round(elapsed, 3),
        "rps": round(sent / elapsed, 1) if sent >= total else None,
        "failed": await db.count_status(prod.tenant_id, "failed"),
        "server_cpu_us_per_reply": round(cpu / max(sent, 1) * 1e6),
    }
    if counts is not None:
        os.kill(server.pid, signal.SIGUSR2)
        for _ in range(3000):  # writing a profile (INBOX_BENCH_PROFILE) takes a while
            if n := _read_counts(counts):
                break
            await asyncio.sleep(0.02)
        else:
            raise procs.BenchError("the server wrote no counts")
        top = n.pop("top", [])
        out["per_reply"] = {k: round(v / max(sent, 1), 3) for k, v in n.items()}
        out["statements_by_text"] = top
    return out


def _read_counts(path: Path, remove: bool = False) -> dict[str, Any] | None:
    """What benchmarks/counted.py wrote (it renames the file into place whole), or None yet."""
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    finally:
        if remove:
            path.unlink(missing_ok=True)

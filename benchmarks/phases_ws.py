"""Websocket phases: idle sockets (memory per socket, one event to all of them) beside a bare
Starlette broadcaster, and end-to-end latency from a webhook POST to the sockets that may see it.

Sockets live in `benchmarks.wsclient` processes; times are CLOCK_MONOTONIC, shared by all processes.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import procs
from benchmarks.payloads import http_post, webhook_request
from benchmarks.product import Product
from benchmarks.profile import Profile

Post = Callable[[int], Awaitable[float]]  # sends message `mid`, returns when the POST left


def _frame(mid: int) -> bytes:
    """What the bare broadcaster sends: shaped and sized like the product's message.created frame."""
    data = {
        "id": 900000 + mid,
        "conversation_id": 4242,
        "direction": "in",
        "sender": {"type": "contact", "id": 777},
        "kind": "text",
        "text": f"bench#{mid}#",
        "attachments": [],
        "status": "received",
        "error": None,
        "provider_message_id": f"fan-{mid}-0123456789abcdef",
        "created_at": "2026-11-29T10:00:00.123456+00:00",
    }
    return json.dumps({"seq": mid, "type": "message.created", "data": data}, separators=(",", ":")).encode()


def percentiles(values: list[float]) -> dict[str, float | None]:
    """Seconds in, milliseconds out."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    v = sorted(values)
    at = lambda q: round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 2)  # noqa: E731
    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(v[-1] * 1000, 2)}


async def _levels(
    p: Profile, server: procs.Server, paths: list[str], post: Post, first_mid: int
) -> dict[str, Any]:
    """Connect sockets up to each level; RSS growth per socket; one message to all, timed."""
    rss0 = server.rss_kib()
    groups: list[procs.WsClients] = []
    out: dict[str, Any] = {"rss_before_kib": rss0, "levels": {}}
    mid, done = first_mid, 0
    try:
        for level in p.sockets:
            group = procs.WsClients(server.port, paths[done:level], p.socket_processes)
            groups.append(group)
            c = await group.connect()
            if c["failed"]:
                raise procs.BenchError(f"{c['failed']} of {level - done} sockets failed: {c['errors']}")
            done = level
            await asyncio.sleep(p.settle_seconds)  # let buffers settle before reading memory
            rss = server.rss_kib()
            times, got = [], 0
            for _ in range(p.fanout_repeats):
                mid += 1
                sent = await post(mid)
                answers = await asyncio.gather(*(g.wait_all(mid, 30) for g in groups))
                got = sum(a["got"] for a in answers)
                lasts = [a["last"] for a in answers if a["last"] is not None]
                if got < level or not lasts:
                    raise procs.BenchError(f"only {got} of {level} sockets got the event")
                times.append((max(lasts) - sent) * 1000)
                await asyncio.sleep(p.settle_seconds / 5)
            out["levels"][str(level)] = {
                "rss_kib": rss,
                "kib_per_socket": round((rss - rss0) / level, 2),
                "fanout_ms": round(statistics.median(times), 2),
                "fanout_runs_ms": [round(t, 2) for t in times],
            }
    finally:
        for g in groups:
            await g.close()
    return out


async def bare_sockets(p: Profile) -> dict[str, Any]:
    port = procs.free_port()
    server = procs.Server(procs.python("benchmarks.bare", "ws", "--port", str(port)), port)

    async def post(mid: int) -> float:
        status, sent = await procs.post(port, http_post("/broadcast", _frame(mid)))
        if status != 200:
            raise procs.BenchError(f"bare broadcast answered {status}")
        return sent

    async with procs.running(server):
        warm = procs.WsClients(port, ["/ws"])  # the first socket and send load lazy code: not per-socket
        await warm.connect()
        await post(1)
        await warm.wait_all(1, 10)
        await warm.close()
        await asyncio.sleep(p.settle_seconds / 2)
        return await _levels(p, server, ["/ws"] * max(p.sockets), post, 100)


async def product_sockets(p: Profile, prod: Product, server: procs.Server) -> dict[str, Any]:
    """Agents in the fan-out queue; each message comes from one customer whose conversation waits,
    unassigned, in that queue, so every agent may see it (exactly one message.created each)."""
    assert prod.db is not None and prod.fan_target is not None
    fan, port = prod.fan_target, server.port
    tid = prod.fan_tenant_id
    sup = await prod.db.agents(tid, "supervisor", 1, tag="warm")
    agents = await prod.db.agents(tid, "agent", max(p.sockets), queue_id=prod.queue_id, tag="idle")

    async def post(mid: int) -> float:
        status, sent = await procs.post(
            port, webhook_request(fan, "5599900000001", f"bench#{mid}#", f"fan-{mid}")
        )
        if status != 200:
            raise procs.BenchError(f"fan-out webhook answered {status}")
        return sent

    warm = procs.WsClients(port, [f"/ws?token={sup[0][1]}"])
    await warm.connect()
    await post(1)  # opens the fan-out conversation, so later messages are one event each
    if (await warm.wait_all(1, 10))["got"] != 1:
        await warm.close()
        raise procs.BenchError("the supervisor's socket did not get the warm-up message")
    await warm.close()
    await asyncio.sleep(p.settle_seconds / 2)
    try:
        return await _levels(p, server, [f"/ws?token={tok}" for _, tok in agents], post, 100)
    finally:
        # Nothing left waiting in that tenant: routing passes have no reason to visit it later.
        await prod.db.resolve_all(tid)


async def ws_available(port: int, token: str) -> str | None:
    """None when `/ws` accepts a socket and sends a first frame, else why not."""
    c = procs.WsClients(port, [f"/ws?token={token}"])
    try:
        r = await c.connect(within=15)
        return None if r["connected"] == 1 else (r["errors"] or ["no first frame"])[0]
    finally:
        await c.close()


async def e2e(
    p: Profile, prod: Product, server: procs.Server, post_port: int | None = None
) -> dict[str, Any]:
    """Open-loop webhooks at each rate from customers whose conversations are assigned to the agents;
    latency from the POST leaving the client to message.created at each socket that should get it
    (every supervisor, and the assigned agent). `post_port`: webhooks go to another server than the
    one holding the sockets (across processes, through the shared bus: the scale-out phase)."""
    assert prod.db is not None
    webhook_port = post_port or server.port
    db, tid = prod.db, prod.tenant_id
    sups = await db.agents(tid, "supervisor", p.e2e_supervisors, tag="e2e")
    agents = await db.agents(tid, "agent", p.e2e_agents, tag="e2e")
    need = p.e2e_agents * p.e2e_conversations_per_agent
    chosen = prod.known[:need]
    if len(chosen) < need:
        raise procs.BenchError(f"need {need} known customers, have {len(chosen)}")
    conv_of: dict[tuple[int, str], int] = {}
    for ti, chid in enumerate(prod.channel_ids):
        found = await db.conversations_of(tid, chid, [who for t, who in chosen if t == ti])
        conv_of.update({(ti, who): cid for who, cid in found.items()})
    owner = {key: i // p.e2e_conversations_per_agent for i, key in enumerate(chosen)}  # -> agent index
    await db.assign({conv_of[key]: agents[a][0] for key, a in owner.items()})
    ns = len(sups)
    clients = procs.WsClients(server.port, [f"/ws?token={tok}" for _, tok in [*sups, *agents]])
    c = await clients.connect()
    if c["failed"]:
        await clients.close()
        raise procs.BenchError(f"{c['failed']} e2e sockets failed: {c['errors']}")
    out: dict[str, Any] = {}
    rng = random.Random(5)
    try:
        # Untimed warm-up at the first rate: a fresh process compiles statements, prepares them on
        # each pooled connection and grows its pool on its first requests, which is not latency.
        warm = max(2, int(p.e2e_rates[0] * p.warmup_seconds))
        await procs.loadgen(
            {
                "mode": "open",
                "port": webhook_port,
                "targets": [t.to_json() for t in prod.targets],
                "run_id": "e2e-warm",
                "rate": p.e2e_rates[0],
                "connections": 64,
                "messages": [
                    (ti, who, "Bom dia") for ti, who in (chosen[rng.randrange(need)] for _ in range(warm))
                ],
            },
            p.warmup_seconds + 60,
        )
        await clients.report()
        for k, rate in enumerate(p.e2e_rates):
            base, count = (k + 1) * 1_000_000, max(2, int(rate * p.e2e_seconds))
            picks = [chosen[rng.randrange(need)] for _ in range(count)]
            spec = {
                "mode": "open",
                "port": webhook_port,
                "targets": [t.to_json() for t in prod.targets],
                "run_id": f"e2e{rate}",
                "rate": rate,
                "connections": 64,
                "messages": [
                    (ti, who, f"Onde está meu pedido? bench#{base + i}#") for i, (ti, who) in enumerate(picks)
                ],
            }
            r = await procs.loadgen(spec, p.e2e_seconds + 90)
            await asyncio.sleep(p.settle_seconds)  # deliveries still on their way
            got: dict[tuple[int, int], float | None] = {}
            dups = 0
            for sock, mid, at in await clients.report():
                dups += (sock, mid) in got
                got.setdefault((sock, mid), at)
            lat: list[float] = []
            missed = 0
            expected = 0
            for i, key in enumerate(picks):
                for sock in [*range(ns), ns + owner[key]]:
                    expected += 1
                    arrived = got.pop((sock, base + i), None)
                    if arrived is None:
                        missed += 1
                    else:
                        lat.append(arrived - r["sent_at"][i])
            out[str(rate)] = {
                **percentiles(lat),
                "deliveries": len(lat),
                "expected": expected,
                "missed": missed,
                "unexpected": len(got),  # frames a socket should not have seen: a visibility leak
                "duplicates": dups,
                "non_200": {s: n for s, n in r["statuses"].items() if s != "200"},
                "achieved_rate": r["achieved_rate"],
                "max_send_lag_ms": r["max_send_lag_ms"],
                "http_latency_ms": r["latency_ms"],
            }
    finally:
        await clients.close()
    return out

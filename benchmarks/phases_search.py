"""Search phase (`inbox bench --search`): a fresh product seeded with a long history
(benchmarks/search_seed.py), then `GET /api/search` over HTTP, as an admin (sees the whole tenant)
and as an agent (sees its own conversations and its queue's unassigned ones), for a mix of queries.

Owns the query mix, the timing (one request at a time: the latency one person waits for, not a
throughput) and the search rows of the report. Every answer must be a 200; the hits are recorded
(and checked by the test) so that a fast answer to the wrong question cannot pass.
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx

from benchmarks import procs
from benchmarks.phases_ws import percentiles
from benchmarks.product import Product
from benchmarks.profile import Profile
from benchmarks.search_seed import seed

TARGET_MS = {"postgresql": 50, "sqlite": 150}
ROLES = ("admin", "agent")
NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


def rows_for(p: Profile, database: str) -> int:
    return p.search_rows_postgresql if database == "postgresql" else p.search_rows_sqlite


async def _measure(p: Profile, port: int, token: str, probes: dict[str, str]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {kind: [] for kind in probes}
    hits: dict[str, dict[str, int]] = {}
    rng = random.Random(15)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as http:

        async def one(kind: str) -> float:
            t0 = time.perf_counter()
            r = await http.get("/api/search", params={"q": probes[kind]})
            took = time.perf_counter() - t0
            if r.status_code != 200:
                raise procs.BenchError(f"search {probes[kind]!r}: {r.status_code} {r.text[:200]}")
            body = r.json()
            hits[kind] = {"messages": len(body["messages"]), "contacts": len(body["contacts"])}
            return took

        for kind in probes:  # untimed: statement preparation, plans, the pages a first search reads
            await one(kind)
        for _ in range(p.search_rounds):
            kinds = list(probes)
            rng.shuffle(kinds)  # interleaved, so that no query runs on the cache of its own repeat
            for kind in kinds:
                timings[kind].append(await one(kind))
    every = [t for ts in timings.values() for t in ts]
    return {
        **percentiles(every),
        "requests": len(every),
        "queries": {
            kind: {"q": probes[kind], **percentiles(ts), **hits[kind]} for kind, ts in timings.items()
        },
    }


async def search(p: Profile, prod: Product, progress: Any) -> dict[str, Any]:
    """Seed `prod` (fresh), start a server on it, measure both roles."""
    total = rows_for(p, prod.database)
    progress(f"search {prod.database}: seeding {total:,} messages ...")
    corpus, tokens, loaded = await seed(prod, total)
    progress(f"search {prod.database}: seeded in {loaded['seed_seconds']} s; measuring ...")
    probes = corpus.probes()
    out: dict[str, Any] = {"messages": total, "seed": loaded, "roles": {}}
    async with prod.serving() as srv:
        for role in ROLES:
            out["roles"][role] = await _measure(p, srv.port, tokens[role], probes)
    return out


# --- the report ------------------------------------------------------------------------------------


def verdicts(search: dict[str, Any]) -> dict[str, Any]:
    """`search_p95_{database}_{role}`: value, target and met, as run.py's other targets."""
    out = {}
    for db, target in TARGET_MS.items():
        for role in ROLES:
            d = (search.get(db) or {}).get("roles", {}).get(role)
            v = None if d is None else d["p95"]
            out[f"search_p95_{db}_{role}"] = {
                "value": v,
                "target": f"< {target} ms",
                "met": None if v is None else v < target,
            }
    return out


def table_rows(search: dict[str, Any], targets: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for db in ("sqlite", "postgresql"):
        d = search.get(db)
        for role in ROLES:
            t = targets[f"search_p95_{db}_{role}"]
            figures = (d or {}).get("roles", {}).get(role)
            what = (
                f"search, {NAMES[db]}, {d['messages']:,} messages, {role}"
                if d
                else f"search, {NAMES[db]}, {role}"
            )
            got = (
                "not measured"
                if figures is None
                else f"p50 {figures['p50']} / p95 {figures['p95']} / p99 {figures['p99']} ms"
            )
            met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
            rows.append((what, got, "", "", t["target"] + " (p95)", met))
    return rows

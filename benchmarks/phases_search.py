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
    """Rounds of the query mix, shuffled; after each search one `GET /api/auth/me` (authenticated,
    reads nothing else): the floor of any API request on this machine at that moment, beside it."""
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {kind: [] for kind in probes}
    floor: list[float] = []
    hits: dict[str, dict[str, int]] = {}
    rng = random.Random(15)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as http:

        async def get(path: str, **params: str) -> tuple[float, Any]:
            t0 = time.perf_counter()
            r = await http.get(path, params=params)
            took = time.perf_counter() - t0
            if r.status_code != 200:
                raise procs.BenchError(f"GET {path} {params}: {r.status_code} {r.text[:200]}")
            return took, r.json()

        for q in probes.values():  # untimed: statement preparation, plans, first reads
            await get("/api/search", q=q)
            await get("/api/auth/me")
        for _ in range(p.search_rounds):
            kinds = list(probes)
            rng.shuffle(kinds)  # interleaved, so that no query runs on the cache of its own repeat
            for kind in kinds:
                took, body = await get("/api/search", q=probes[kind])
                timings[kind].append(took)
                hits[kind] = {"messages": len(body["messages"]), "contacts": len(body["contacts"])}
                floor.append((await get("/api/auth/me"))[0])
    every = [t for ts in timings.values() for t in ts]
    return {
        **percentiles(every),
        "requests": len(every),
        "floor": percentiles(floor),
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
    """Per database and role: search p50/p95/p99, the floor's p95 (an authenticated request that
    reads nothing else, interleaved), the ratio of the two p95s, the target on the search p95."""
    rows: list[tuple[str, ...]] = []
    for db in ("sqlite", "postgresql"):
        d = search.get(db)
        for role in ROLES:
            t = targets[f"search_p95_{db}_{role}"]
            what = f"search, {NAMES[db]}, {role}"
            f = (d or {}).get("roles", {}).get(role)
            if d is None or f is None:
                rows.append((what, "not measured", "", "", t["target"] + " (p95)", "-"))
                continue
            floor = f["floor"]["p95"]
            rows.append(
                (
                    f"search, {NAMES[db]}, {d['messages']:,} messages, {role}",
                    f"p50 {f['p50']} / p95 {f['p95']} / p99 {f['p99']} ms",
                    f"p95 {floor} ms",
                    f"{f['p95'] / floor:.1f}x" if floor else "",
                    t["target"] + " (p95)",
                    {True: "yes", False: "**no**", None: "-"}[t["met"]],
                )
            )
    return rows

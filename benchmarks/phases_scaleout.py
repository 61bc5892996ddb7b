"""The scale-out row (`inbox bench --only scaleout`, issue 16 item 3): the default bench's ingest
measurement against `inbox serve --workers 1` and then `--workers 2`, each on a fresh PostgreSQL
database with Redis as the bus, and the ratio; where the CPU went during each timed run (each server
process, this database's PostgreSQL backends, the whole PostgreSQL and Redis servers, the load
generator); and end-to-end latency at 200 webhooks/s across processes: webhooks posted to one
`inbox serve`, every socket on another, so that each delivery crosses Redis.

The latency servers are two single-process servers on two ports rather than the children of one
`--workers 2`: on a shared port the kernel picks the process, so neither the webhook's nor the
socket's could be chosen, and only some deliveries would cross. The path measured is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from benchmarks import phases_http, phases_ws, procs
from benchmarks.product import Product, product
from benchmarks.profile import Profile

if TYPE_CHECKING:
    from benchmarks.run import Run

RATE = 200


async def redis_reachable(url: str) -> str | None:
    """None when Redis answers PING, else the reason."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()


# What this database's active backends are doing, sampled (pg_stat_activity): waiting on a lock
# (the tenant's sequence row: one tenant's commits are serialized), on WAL, or running (no wait).
_ACTIVE = """SELECT coalesce(wait_event_type || ':' || wait_event, 'running') AS what, count(*) AS n
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
GROUP BY 1"""
_COMMITS = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
SAMPLE_EVERY = 0.02


class CpuMeter:
    """During the timed ingest (`phases_http.Meter`): cores used by process, PostgreSQL's commits,
    and what its active backends were doing, sampled."""

    def __init__(self, server: procs.Server, prod: Product) -> None:
        self.server = server
        self.prod = prod
        self.t0 = 0.0
        self.cpu0: dict[int, float] = {}
        self.busy0 = (0.0, 0.0)
        self.commits0 = 0
        self.waits: dict[str, int] = {}
        self.samples = 0
        self.sampler: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        conn = await procs.pg_connect(self.prod.url)
        try:
            while True:
                self.samples += 1
                for row in await conn.fetch(_ACTIVE):
                    self.waits[row["what"]] = self.waits.get(row["what"], 0) + int(row["n"])
                await asyncio.sleep(SAMPLE_EVERY)
        finally:
            await conn.close()

    async def _commits(self) -> int:
        conn = await procs.pg_connect(self.prod.url)
        try:
            return int(await conn.fetchval(_COMMITS))
        finally:
            await conn.close()

    async def _backends(self) -> list[int]:
        conn = await procs.pg_connect(self.prod.url)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return [int(r["pid"]) for r in rows]

    def _pids(self) -> dict[str, list[int]]:
        return {
            "servers": [self.server.pid, *procs.descendants(self.server.pid)],
            "postgres": procs.pids_named("postgres"),
            "redis": procs.pids_named("redis-server"),
        }

    async def start(self) -> None:
        pids = self._pids()
        self.backends0 = await self._backends()
        self.cpu0 = procs.cpu_by_pid([p for group in pids.values() for p in group])
        self.busy0 = procs.machine_busy()
        self.commits0 = await self._commits()
        self.sampler = asyncio.create_task(self._sample())
        self.t0 = time.monotonic()

    async def stop(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        busy, all_ = procs.machine_busy()
        if self.sampler is not None:
            self.sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sampler
        # Backends report their counts to the statistics at most once a second.
        await asyncio.sleep(1.2)
        commits = await self._commits() - self.commits0
        pids = self._pids()
        backends = set(self.backends0) | set(await self._backends())
        now = procs.cpu_by_pid([p for group in pids.values() for p in group])

        def cores(group: list[int] | set[int]) -> float:
            # A process that appeared during the run counts from zero; one that left is not seen.
            return round(sum(now[p] - self.cpu0.get(p, 0.0) for p in group if p in now) / elapsed, 2)

        main, *children = pids["servers"]
        return {
            "seconds": round(elapsed, 2),
            "cores": {
                "inbox_serve": {"parent": cores([main]), **{str(p): cores([p]) for p in children}},
                "postgres_backends_this_database": cores(backends),
                "postgres_whole_server": cores(pids["postgres"]),
                "redis_server": cores(pids["redis"]),
            },
            "machine_busy": round((busy - self.busy0[0]) / max(all_ - self.busy0[1], 1e-9), 2),
            "postgres_commits": commits,
            # Per sample: how many backends were active, on average, and doing what.
            "postgres_active": {
                what: round(n / max(self.samples, 1), 2)
                for what, n in sorted(self.waits.items(), key=lambda kv: -kv[1])
            },
        }


async def _ingest(p: Profile, prod: Product, redis_url: str, workers: int, again: int = 0) -> dict[str, Any]:
    prod.server_env |= {
        "INBOX_BROADCAST_URL": redis_url,
        "INBOX_BROADCAST_CHANNEL": f"inbox-bench-{secrets.token_hex(5)}",
    }
    async with prod.serving(workers=workers) as srv:
        if workers > 1 and len(procs.descendants(srv.pid)) != workers:
            raise procs.BenchError(f"inbox serve --workers {workers} runs {procs.descendants(srv.pid)}")
        out = await phases_http.ingest(p, prod, srv, again, meter=CpuMeter(srv, prod))
    cpu = out["cpu"]
    cpu["load_generator"] = out["generator_cpu"]
    # CPU per webhook, by party: a figure that holds better than webhooks/s on a box shared with
    # other work, and what this box's cores could do if the run had them all (`ceiling`).
    c, per = cpu["cores"], cpu["seconds"] / max(out["sent"], 1) * 1e6
    parts = {
        "inbox_serve": sum(c["inbox_serve"].values()),
        "postgres": c["postgres_backends_this_database"],
        "redis": c["redis_server"],
        "load_generator": cpu["load_generator"],
    }
    cpu["us_per_webhook"] = {k: round(v * per) for k, v in parts.items()}
    cpu["webhooks_per_commit"] = round(out["sent"] / max(cpu["postgres_commits"], 1), 1)
    total = sum(cpu["us_per_webhook"].values())
    cpu["us_per_webhook"]["total"] = total
    cpu["ceiling_rps"] = round((os.cpu_count() or 1) * 1e6 / total) if total else None
    return out


async def _e2e_across(p: Profile, prod: Product) -> dict[str, Any]:
    """Two fresh single-process servers on the product's bus: webhooks to the first, sockets on the
    second (phases_ws.e2e, at one rate)."""
    async with prod.serving() as posted, prod.serving() as held:
        out = await phases_ws.e2e(
            dataclasses.replace(p, e2e_rates=(RATE,)), prod, held, post_port=posted.port
        )
    return out[str(RATE)]


async def scaleout(
    p: Profile, pg_url: str, redis_url: str, notificame_url: str, progress: Callable[[str], None], rounds: int
) -> dict[str, Any]:
    """`rounds` of (one process, then two), each server fresh, each database its own throughout
    (a later round adds its own new customers, as the growth phase does); the ratio is the median
    of the rounds' ratios, the detail of the first round is kept whole."""
    runs: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        progress("scale-out: two fresh PostgreSQL databases, tenant and channels through the CLI ...")
        one, two = await asyncio.gather(
            *(stack.enter_async_context(product("postgresql", pg_url, notificame_url)) for _ in range(2))
        )
        for k in range(rounds):
            pair: dict[str, Any] = {"round": k + 1, "loadavg": [round(x, 2) for x in os.getloadavg()]}
            for n, prod in ((1, one), (2, two)):
                progress(f"scale-out round {k + 1}: ingest, inbox serve --workers {n} ...")
                pair[str(n)] = await _ingest(p, prod, redis_url, n, again=k)
            runs.append(pair)
        progress(f"scale-out: end-to-end latency across processes, {RATE} webhooks/s ...")
        across = await _e2e_across(p, two)

    def summary(pair: dict[str, Any]) -> dict[str, Any]:
        rps = [pair[n]["rps"] for n in ("1", "2")]
        ceilings = [pair[n]["cpu"]["ceiling_rps"] for n in ("1", "2")]
        return {
            "round": pair["round"],
            "loadavg": pair["loadavg"],
            "rps": {"1": rps[0], "2": rps[1]},
            "ratio": round(rps[1] / rps[0], 2) if rps[0] else None,
            "ceiling_ratio": round(ceilings[1] / ceilings[0], 2) if all(ceilings) else None,
            "webhooks_per_commit": {n: pair[n]["cpu"]["webhooks_per_commit"] for n in ("1", "2")},
            "verified": pair["1"]["verified"] and pair["2"]["verified"],
        }

    rounds_out = [summary(pair) for pair in runs]
    ratios = [r["ratio"] for r in rounds_out if r["ratio"] is not None]
    return {
        "ingest_rps": {n: statistics.median(r["rps"][n] for r in rounds_out) for n in ("1", "2")},
        "ratio": statistics.median(ratios) if ratios else None,
        "ceiling_ratio": rounds_out[0]["ceiling_ratio"],
        "rounds": rounds_out,
        "ingest": {n: runs[0][n] for n in ("1", "2")},
        "e2e_across_processes": across,
    }


async def run(bench: Run, dbs: list[str], pg_url: str | None, notificame_url: str) -> None:
    """`--only scaleout`: the phase when PostgreSQL and Redis are there, else a note saying why not."""
    redis_url = getattr(bench.args, "redis_url", None) or os.environ.get("INBOX_TEST_REDIS_URL")
    why = None
    if "postgresql" not in dbs or not pg_url:
        why = "needs PostgreSQL: --postgres-url or INBOX_TEST_DATABASE_URL, reachable"
    elif not redis_url:
        why = "needs Redis: --redis-url or INBOX_TEST_REDIS_URL"
    elif reason := await redis_reachable(redis_url):
        why = f"Redis unreachable: {reason}"
    if why is not None:
        bench.notes.append(f"scale-out: not measured ({why})")
        return
    assert pg_url is not None and redis_url is not None
    out = await bench.phase(
        "scale-out",
        lambda: scaleout(
            bench.p, pg_url, redis_url, notificame_url, bench.progress, max(1, bench.args.rounds)
        ),
    )
    if not out:
        return
    bench.r["detail"]["scaleout"] = out
    bench.r["scaleout_ingest_rps"] = out["ingest_rps"]
    bench.r["scaleout_ratio"] = out["ratio"]
    d = out["e2e_across_processes"]
    bench.r["e2e_across_processes_ms"] = {k: d[k] for k in ("p50", "p99", "max")}
    for pair in out["rounds"]:
        if not pair["verified"]:
            bench.notes.append(
                f"scale-out round {pair['round']}: committed != accepted (see detail.scaleout)"
            )
    if d["missed"] or d["unexpected"] or d["duplicates"] or d["non_200"]:
        bench.notes.append(
            f"e2e across processes: {d['missed']} missed, {d['unexpected']} unexpected, "
            f"{d['duplicates']} duplicate deliveries, non-200 {d['non_200']}"
        )


def table_rows(
    r: dict[str, Any], met: Callable[[str], str], targets: dict[str, str], _fmt: Callable[..., str]
) -> list[tuple[str, ...]]:
    """The two rows of the bench table (`_fmt`: run.py's number format)."""
    rps = r["scaleout_ingest_rps"] or {}
    lat = r["e2e_across_processes_ms"]
    return [
        ("ingest, PostgreSQL + Redis, `inbox serve --workers 2` / `--workers 1` (`--only scaleout`)",
         _fmt(rps.get("2"), " webhooks/s"), _fmt(rps.get("1"), " webhooks/s"), _fmt(r["scaleout_ratio"], "x"),
         targets["scaleout_ratio"], met("scaleout_ratio")),
        (f"end-to-end latency across processes, {RATE} webhooks/s, 100 sockets (`--only scaleout`)",
         "not measured" if lat is None else f"p50 {lat['p50']} / p99 {lat['p99']} / max {lat['max']} ms",
         "", "", targets["e2e_across_p99_200"], met("e2e_across_p99_200")),
    ]  # fmt: skip


def cpu_lines(r: dict[str, Any], _fmt: Callable[..., str]) -> list[str]:
    """Where the CPU went in each timed scale-out ingest, in cores (of `nproc`)."""
    out = r["detail"].get("scaleout")
    if not out:
        return []
    lines = []
    for n, ing in out["ingest"].items():  # the first round's
        c = ing["cpu"]["cores"]
        servers = ", ".join(f"{pid} {v}" for pid, v in c["inbox_serve"].items())
        per = ", ".join(f"{k} {v}" for k, v in ing["cpu"]["us_per_webhook"].items())
        active = ", ".join(f"{k} {v}" for k, v in ing["cpu"]["postgres_active"].items())
        lines.append(
            f"- scale-out `--workers {n}`, cores during the timed ingest: inbox serve ({servers}), "
            f"PostgreSQL backends of its database {c['postgres_backends_this_database']} (whole server "
            f"{c['postgres_whole_server']}), Redis {c['redis_server']}, load generator "
            f"{ing['cpu']['load_generator']}; machine busy {ing['cpu']['machine_busy']}. CPU per webhook "
            f"(us): {per}; all {r['machine']['nproc']} cores would do "
            f"{_fmt(ing['cpu']['ceiling_rps'], '/s')}. {ing['cpu']['webhooks_per_commit']} webhooks per "
            f"PostgreSQL commit; its active backends, on average: {active or 'none seen'}"
        )
    lines.append(f"- scale-out: ratio of those ceilings, 2 processes / 1: {_fmt(out['ceiling_ratio'], 'x')}")
    for pair in out["rounds"]:
        lines.append(
            f"- scale-out round {pair['round']} (load average {' '.join(map(str, pair['loadavg']))}): "
            f"{_fmt(pair['rps']['1'], '/s')} with 1 process, {_fmt(pair['rps']['2'], '/s')} with 2: "
            f"{_fmt(pair['ratio'], 'x')}"
        )
    return lines

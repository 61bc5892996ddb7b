"""`inbox bench`: one run, the product beside bare baselines of the same stack, a table or JSON.

Owns the order of phases and the report. Phases: bare HTTP; ingest per database (a fresh server on
a fresh database); then, on PostgreSQL when measured (else SQLite), a restarted server for idle
sockets (beside a bare broadcaster), and another for end-to-end latency and outbound. A phase that cannot run
(e.g. no PostgreSQL) is reported as not measured, with the reason, and the others still run.
`--search` runs only the search phase (benchmarks/phases_search.py), with its own table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import (
    growth,
    metrics_ab,
    phases_automations,
    phases_http,
    phases_scaleout,
    phases_search,
    phases_ws,
    procs,
)
from benchmarks.payloads import Target
from benchmarks.product import Product, product
from benchmarks.profile import Profile, pick

TARGETS = {
    "ingest_ratio_postgresql": ">= 0.15 (goal 0.25)",
    "ingest_ratio_sqlite": ">= 0.10",
    "e2e_p99_200": "< 50 ms",
    "e2e_p99_500": "< 100 ms",
    "socket_memory": "<= 1.25x bare",
    "fanout": "<= 1.5x bare",
    "reminders_ingest_ratio_sqlite": ">= 0.90 (ingest draining / alone)",
    "reminders_ingest_ratio_postgresql": ">= 0.90 (ingest draining / alone)",
    "scaleout_ratio": ">= 1.6 (2 processes / 1)",
    "e2e_across_p99_200": "< 50 ms",
}


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    versions: dict[str, str | None] = {}
    for dist in (
        "uvicorn",
        "starlette",
        "sqlalchemy",
        "asyncpg",
        "aiosqlite",
        "uvloop",
        "httptools",
        "websockets",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_start": os.getloadavg(),
    }


class Run:
    def __init__(self, args: argparse.Namespace, profile: Profile) -> None:
        self.args = args
        self.p = profile
        self.notes: list[str] = []
        self.r: dict[str, Any] = {
            "profile": profile.name,
            "machine": machine(),
            "bare_http_rps": None,
            "ingest_rps_sqlite": None,
            "ingest_rps_postgresql": None,
            "ingest_ratio_sqlite": None,
            "ingest_ratio_postgresql": None,
            "e2e_latency_ms": {str(rate): None for rate in profile.e2e_rates},
            "sockets": list(profile.sockets),
            "socket_kib": None,
            "bare_socket_kib": None,
            "fanout_ms": None,
            "bare_fanout_ms": None,
            "outbound_rps": None,
            # `--only automations`: due reminders drained, and ingest while they drain vs alone.
            "due_reminders": profile.due_reminders,
            "reminders_runs_per_second_sqlite": None,
            "reminders_runs_per_second_postgresql": None,
            "reminders_ingest_ratio_sqlite": None,
            "reminders_ingest_ratio_postgresql": None,
            # `--only scaleout`: ingest with 1 and 2 server processes (PostgreSQL + Redis), and
            # latency with webhooks and sockets on different processes.
            "scaleout_ingest_rps": None,
            "scaleout_ratio": None,
            "e2e_across_processes_ms": None,
            "detail": {},
            "notes": self.notes,
        }

    async def phase(self, name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        t0 = time.monotonic()
        self.progress(f"{name} ...")
        try:
            out = await fn()
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            self.notes.append(f"{name}: not measured ({type(exc).__name__}: {reason})")
            if os.environ.get("INBOX_BENCH_DEBUG"):
                traceback.print_exc(file=sys.stderr)
            return None
        self.progress(f"{name} done in {time.monotonic() - t0:.1f}s")
        return out

    def progress(self, msg: str) -> None:
        if not self.args.json or os.environ.get("INBOX_BENCH_DEBUG"):
            sys.stderr.write(f"[bench] {msg}\n")
            sys.stderr.flush()

    async def databases(self) -> tuple[list[str], str | None]:
        """The databases to measure (PostgreSQL only when reachable) and the PostgreSQL server URL."""
        pg_url = self.args.postgres_url or os.environ.get("INBOX_TEST_DATABASE_URL") or None
        dbs = ["sqlite", "postgresql"] if self.args.database == "both" else [self.args.database]
        if "postgresql" in dbs:
            why = (
                "no --postgres-url or INBOX_TEST_DATABASE_URL"
                if not pg_url
                else await procs.pg_reachable(pg_url)
            )
            if why:
                self.notes.append(f"postgresql: not measured ({why})")
                dbs.remove("postgresql")
        return dbs, pg_url

    async def go(self) -> dict[str, Any]:
        t0 = time.monotonic()
        dbs, pg_url = await self.databases()
        fake_port = procs.free_port()
        fake = procs.Server(
            procs.python("benchmarks.bare", "notificame", "--port", str(fake_port)), fake_port
        )
        async with procs.running(fake):
            sample = [
                Target("notificame", "/webhooks/notificame/bench", "nm-bench"),
                Target("meta", "/webhooks/meta/bench", "100000000000001", "bench-secret"),
            ]
            only = getattr(self.args, "only", None)
            if only == "metrics":  # its own rounds of baselines and ingest runs (metrics_ab.py)
                order: list[str] = [db for db in ("postgresql", "sqlite") if db in dbs]
                await metrics_ab.run(self, order, pg_url, f"http://127.0.0.1:{fake_port}", sample)
                dbs = []
            elif only == "scaleout":  # its own products, PostgreSQL + Redis (phases_scaleout.py)
                await phases_scaleout.run(self, dbs, pg_url, f"http://127.0.0.1:{fake_port}")
                dbs = []
            bare = (
                None
                if only or not dbs
                else await self.phase("bare HTTP", lambda: phases_http.bare_http(self.p, sample))
            )
            if bare:
                self.r["bare_http_rps"] = bare["rps"]
                self.r["detail"]["bare_http"] = {
                    k: bare[k] for k in ("rps", "latency_ms", "generator_cpu", "server_cpu_us_per_request")
                }
            async with contextlib.AsyncExitStack() as stack:
                # Both databases are set up at once (the CLI's start-up is most of it), after the
                # bare baseline so that nothing else runs while it is measured.
                if dbs:
                    self.progress(
                        f"{', '.join(dbs)}: fresh databases, tenant and channels through the CLI ..."
                    )
                url = f"http://127.0.0.1:{fake_port}"
                prods = await asyncio.gather(
                    *(stack.enter_async_context(product(db, pg_url, url)) for db in dbs),
                    return_exceptions=True,
                )
                for db, prod in zip(dbs, prods, strict=True):
                    if isinstance(prod, BaseException):
                        self.notes.append(f"{db}: not measured (setup failed: {prod})")
                        continue
                    if only == "outbound":
                        await self.outbound_only(prod)
                    elif only == "automations":
                        await self.automations_only(prod)
                    elif only == "growth":
                        await self.growth_only(prod)
                    else:
                        await self.database(prod, main_db=db == dbs[-1])  # PostgreSQL when measured
        self.r["machine"]["loadavg_end"] = os.getloadavg()
        self.r["seconds"] = round(time.monotonic() - t0, 1)
        self.r["targets"] = self.verdicts()
        return self.r

    async def search(self) -> dict[str, Any]:
        """`--search` alone: fresh products made at once, then per database, one after the other
        (seeding one would disturb the other's timings), seeded and searched. Nothing is sent out,
        so no fake provider."""
        t0 = time.monotonic()
        dbs, pg_url = await self.databases()
        self.r = {"profile": self.p.name, "machine": self.r["machine"], "search": {}, "notes": self.notes}
        async with contextlib.AsyncExitStack() as stack:
            self.progress(f"{', '.join(dbs)}: fresh databases, tenant and channels through the CLI ...")
            prods = await asyncio.gather(
                *(stack.enter_async_context(product(db, pg_url, "http://127.0.0.1:9")) for db in dbs),
                return_exceptions=True,
            )
            for db, prod in zip(dbs, prods, strict=True):
                if isinstance(prod, BaseException):
                    self.notes.append(f"search {db}: not measured (setup failed: {prod})")
                    continue
                out = await self.phase(
                    f"search {db}", functools.partial(phases_search.search, self.p, prod, self.progress)
                )
                if out:
                    self.r["search"][db] = out
        self.r["machine"]["loadavg_end"] = os.getloadavg()
        self.r["seconds"] = round(time.monotonic() - t0, 1)
        self.r["targets"] = phases_search.verdicts(self.r["search"])
        return self.r

    async def database(self, prod: Product, main_db: bool) -> None:
        db = prod.database
        async with prod.serving() as srv:
            ing = await self.phase(f"ingest {db}", lambda: phases_http.ingest(self.p, prod, srv))
        if ing:
            self.r["detail"][f"ingest_{db}"] = ing
            if not ing["verified"]:
                self.notes.append(
                    f"ingest {db}: {ing['committed']} committed vs {ing['accepted']} accepted; "
                    f"non-200 {ing['non_200']}, errors {ing['errors']}"
                )
            self.r[f"ingest_rps_{db}"] = ing["rps"]
            if self.r["bare_http_rps"]:
                self.r[f"ingest_ratio_{db}"] = round(ing["rps"] / self.r["bare_http_rps"], 3)
            if ing["exhausted"]:
                self.notes.append(
                    f"ingest {db}: the pre-built requests ran out (raise ingest_cap_per_second)"
                )
        if not main_db or not ing or os.environ.get("INBOX_BENCH_INGEST_ONLY"):
            return
        self.r["detail"]["realtime_database"] = db
        bare = await self.phase("bare sockets", lambda: phases_ws.bare_sockets(self.p))
        if bare:
            self.r["detail"]["bare_sockets"] = bare
            top = bare["levels"][str(max(self.p.sockets))]
            self.r["bare_socket_kib"], self.r["bare_fanout_ms"] = top["kib_per_socket"], top["fanout_ms"]
        assert prod.db is not None
        admin = await prod.db.agents(prod.tenant_id, "supervisor", 1, tag="probe")
        async with prod.serving() as srv:
            why = await phases_ws.ws_available(srv.port, admin[0][1])
            if why is None:
                await self.sockets(prod, srv)
            else:
                self.notes.append(f"sockets, e2e: not measured (/ws: {why})")
        # A fresh process again, without the presence rows of the thousands of sockets just closed:
        # sweeping them (one transaction per agent) would otherwise land in the latency figures.
        left = await prod.db.forget_sockets()
        self.r["detail"]["presence_rows_left_by_sockets_phase"] = left
        async with prod.serving() as srv:
            if why is None:
                await self.e2e(prod, srv)
            await self.outbound(prod, srv, admin[0][1])

    async def outbound(
        self, prod: Product, srv: procs.Server, token: str, counts: Path | None = None
    ) -> None:
        out = await self.phase(
            f"outbound {prod.database}", lambda: phases_http.outbound(self.p, prod, srv, token, counts)
        )
        if out:
            # The full run measures one database (the last); `--only outbound` each, under its name.
            self.r["detail"]["outbound" if counts is None else f"outbound_{prod.database}"] = out
            self.r["outbound_rps"] = out["rps"]
            self.r["detail"]["realtime_database"] = prod.database
            if out["rps"] is None:
                self.notes.append(
                    f"outbound: only {out['sent']} of {out['replies']} sent in {out['seconds']}s"
                )

    async def outbound_only(self, prod: Product) -> None:
        """`--only outbound`: the known customers (untimed), then the outbound phase on a server whose
        statements and transactions are counted (benchmarks/counted.py)."""
        assert prod.db is not None
        admin = await prod.db.agents(prod.tenant_id, "supervisor", 1, tag="probe")
        async with prod.serving() as srv:
            if not await self.phase(
                "known customers", lambda: phases_http.known_customers(self.p, prod, srv.port)
            ):
                return
        counts = prod.data_dir / "outbound-counts.json"
        async with prod.serving(counts) as srv:
            await self.outbound(prod, srv, admin[0][1], counts)

    async def automations_only(self, prod: Product) -> None:
        """`--only automations`: due reminders drained on a fresh server, ingest while they drain
        against ingest just before (benchmarks/phases_automations.py)."""
        assert prod.db is not None
        db = prod.database
        admin = await prod.db.agents(prod.tenant_id, "admin", 1, tag="automations")
        async with prod.serving() as srv:
            out = await self.phase(
                f"{self.p.due_reminders:,} due reminders {db}",
                lambda: phases_automations.due_reminders(self.p, prod, srv, admin[0][1]),
            )
        if not out:
            return
        self.r["detail"][f"automations_{db}"] = out
        self.r[f"reminders_runs_per_second_{db}"] = out["runs_per_second"]
        self.r[f"reminders_ingest_ratio_{db}"] = out["ingest_ratio"]
        if not out["verified_runs"]:
            self.notes.append(
                f"reminders {db}: runs {out['runs']}, {out['provider_accepted']} accepted by the provider, "
                f"of {out['reminders']}"
            )
        if not out["verified_ingest"]:
            self.notes.append(f"reminders {db}: ingest had failures (see detail.automations_{db})")
        if not out["drain_covered_ingest"]:
            self.notes.append(
                f"reminders {db}: the drain ended before the timed ingest did; the ratio understates it"
            )

    async def growth_only(self, prod: Product) -> None:
        """`--only growth`: ingest on the empty database, then beside a seeded tenant (growth.py)."""
        db = prod.database
        out = await self.phase(f"growth {db}", lambda: growth.growth(self.p, prod))
        if out:
            self.r.setdefault("growth", {})[db] = out
            for run in ("ingest_empty", "ingest_grown"):
                if not out[run]["verified"]:
                    self.notes.append(f"growth {db} {run}: {out[run]['committed']} committed vs "
                                      f"{out[run]['accepted']} accepted")  # fmt: skip

    async def sockets(self, prod: Product, srv: procs.Server) -> None:
        socks = await self.phase("sockets", lambda: phases_ws.product_sockets(self.p, prod, srv))
        if socks:
            self.r["detail"]["sockets"] = socks
            top = socks["levels"][str(max(self.p.sockets))]
            self.r["socket_kib"], self.r["fanout_ms"] = top["kib_per_socket"], top["fanout_ms"]

    async def e2e(self, prod: Product, srv: procs.Server) -> None:
        lat = await self.phase("e2e latency", lambda: phases_ws.e2e(self.p, prod, srv))
        if lat:
            self.r["detail"]["e2e"] = lat
            for rate, d in lat.items():
                self.r["e2e_latency_ms"][rate] = {k: d[k] for k in ("p50", "p99", "max")}
                if d["missed"] or d["unexpected"] or d["duplicates"] or d["non_200"]:
                    self.notes.append(
                        f"e2e {rate}/s: {d['missed']} missed, {d['unexpected']} unexpected, "
                        f"{d['duplicates']} duplicate deliveries, non-200 {d['non_200']}"
                    )

    def verdicts(self) -> dict[str, Any]:
        r = self.r

        def ratio(a: Any, b: Any) -> float | None:
            return round(a / b, 2) if a is not None and b else None

        def p99(rate: str) -> float | None:
            d = r["e2e_latency_ms"].get(rate)
            return None if d is None else d["p99"]

        checks = {
            "ingest_ratio_postgresql": (r["ingest_ratio_postgresql"], lambda v: v >= 0.15),
            "ingest_ratio_sqlite": (r["ingest_ratio_sqlite"], lambda v: v >= 0.10),
            "e2e_p99_200": (p99("200"), lambda v: v < 50),
            "e2e_p99_500": (p99("500"), lambda v: v < 100),
            "socket_memory": (ratio(r["socket_kib"], r["bare_socket_kib"]), lambda v: v <= 1.25),
            "fanout": (ratio(r["fanout_ms"], r["bare_fanout_ms"]), lambda v: v <= 1.5),
            "reminders_ingest_ratio_sqlite": (r["reminders_ingest_ratio_sqlite"], lambda v: v >= 0.9),
            "reminders_ingest_ratio_postgresql": (r["reminders_ingest_ratio_postgresql"], lambda v: v >= 0.9),
            "scaleout_ratio": (r["scaleout_ratio"], lambda v: v >= 1.6),
            "e2e_across_p99_200": ((r["e2e_across_processes_ms"] or {}).get("p99"), lambda v: v < 50),
        }
        return {
            k: {"value": v, "target": TARGETS[k], "met": None if v is None else bool(ok(v))}
            for k, (v, ok) in checks.items()
        }


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "not measured"
    if isinstance(v, float):
        v = f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def _markdown(rows: list[tuple[str, ...]]) -> list[str]:
    head = ["what", "product", "bare baseline", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _machine(r: dict[str, Any]) -> str:
    m = r["machine"]
    return (
        f"Machine: {m['nproc']} CPU ({m['cpu']}), {m['ram_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}; "
        f"load average at start {' '.join(f'{x:.2f}' for x in m['loadavg_start'])}. "
        f"Profile: {r['profile']}, {r['seconds']} s."
    )


def search_table(r: dict[str, Any]) -> str:
    lines = _markdown(phases_search.table_rows(r["search"], r["targets"]))
    lines += [
        "",
        _machine(r) + " One request at a time over HTTP, the query mix per role; baseline: "
        "`GET /api/auth/me` (authenticated, reads nothing else) after each search.",
    ]
    return "\n".join(lines + [f"- {note}" for note in r["notes"]])


def table(r: dict[str, Any]) -> str:
    t = r["targets"]
    n = r["sockets"][-1]

    def met(key: str) -> str:
        return {True: "yes", False: "**no**", None: "-"}[t[key]["met"]]

    def lat(rate: str) -> str:
        d = r["e2e_latency_ms"].get(rate)
        return "not measured" if d is None else f"p50 {d['p50']} / p99 {d['p99']} / max {d['max']} ms"

    bare = _fmt(r["bare_http_rps"], " req/s")

    def ingest(db: str) -> tuple[str, ...]:
        key = f"ingest_ratio_{db}"
        return (_fmt(r[f"ingest_rps_{db}"], " webhooks/s"), bare, _fmt(r[key], "x"), TARGETS[key], met(key))

    def reminders(db: str, name: str) -> tuple[str, ...]:
        key = f"reminders_ingest_ratio_{db}"
        d = r["detail"].get(f"automations_{db}")
        what = f"{r['due_reminders']:,} due reminders drained, {name} (`--only automations`)"
        if d is None:
            return (what, "not measured", "", "", TARGETS[key], met(key))
        product = (
            f"{_fmt(d['runs_per_second'], ' runs/s')} (sent {_fmt(d['sent_per_second'], '/s')}"
            f"{'' if d['complete'] else ', not all by the deadline'}); "
            f"ingest {_fmt(d['ingest_draining']['rps'], ' webhooks/s')}"
        )
        alone = f"ingest alone {_fmt(d['ingest_alone']['rps'], ' webhooks/s')}"
        return (what, product, alone, _fmt(r[key], "x"), TARGETS[key], met(key))

    rows = [
        ("bare HTTP POST (Starlette, 1 process)", bare, "", "", "", ""),
        ("ingest, SQLite", *ingest("sqlite")),
        ("ingest, PostgreSQL", *ingest("postgresql")),
        ("end-to-end latency, 200 webhooks/s, 100 sockets", lat("200"), "", "", TARGETS["e2e_p99_200"],
         met("e2e_p99_200")),
        ("end-to-end latency, 500 webhooks/s, 100 sockets", lat("500"), "", "", TARGETS["e2e_p99_500"],
         met("e2e_p99_500")),
        (f"memory per idle socket ({n:,} sockets)", _fmt(r["socket_kib"], " KiB"),
         _fmt(r["bare_socket_kib"], " KiB"), _fmt(t["socket_memory"]["value"], "x"), TARGETS["socket_memory"],
         met("socket_memory")),
        (f"one event to {n:,} sockets", _fmt(r["fanout_ms"], " ms"), _fmt(r["bare_fanout_ms"], " ms"),
         _fmt(t["fanout"]["value"], "x"), TARGETS["fanout"], met("fanout")),
        ("outbound replies drained by the outbox", _fmt(r["outbound_rps"], " replies/s"), "", "", "", ""),
        reminders("sqlite", "SQLite"),
        reminders("postgresql", "PostgreSQL"),
        *phases_scaleout.table_rows(r, met, TARGETS, _fmt),
    ]  # fmt: skip
    lines = _markdown(rows)
    lines.append("")
    lines.append(_machine(r) + f" Realtime and outbound on {r['detail'].get('realtime_database', '-')}.")
    lines += phases_scaleout.cpu_lines(r, _fmt)
    lines += [f"- {note}" for note in r["notes"]]
    lines += growth_table(r.get("growth") or {})
    return "\n".join(lines)


def growth_table(grown: dict[str, Any]) -> list[str]:
    """`--only growth`: one row per database."""
    if not grown:
        return []
    lines = ["", "| growth | seeded | ingest empty | ingest grown | ratio | list p95 | replay |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for db, g in grown.items():
        s, lst, rep = g["seeded"], g["list_ms"], g["replay"]
        lines.append(
            f"| {db} | {s['messages']:,} messages, {s['conversations']:,} open conversations, "
            f"{s['events']:,} events ({s['seconds']} s) | {_fmt(g['ingest_empty']['rps'], '/s')} | "
            f"{_fmt(g['ingest_grown']['rps'], '/s')} | {_fmt(g['ingest_ratio_grown_to_empty'], 'x')} | "
            f"{lst['p95']} ms (p50 {lst['p50']}; small tenant {g['list_ms_small_tenant']['p95']}) | "
            f"{rep['events']:,} events in {rep['seconds']} s |"
        )
    return lines


def main(args: argparse.Namespace) -> None:
    profile = pick(bool(getattr(args, "quick", False)))
    run = Run(args, profile)
    searching = bool(getattr(args, "search", False))
    result = asyncio.run(run.search() if searching else run.go())
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    elif getattr(args, "only", None) == "metrics":
        lines = [metrics_ab.table(result), "", table(result).rsplit("\n\n", 1)[1]]  # machine, notes
        sys.stdout.write("\n".join(lines) + "\n")
    else:
        sys.stdout.write((search_table(result) if searching else table(result)) + "\n")

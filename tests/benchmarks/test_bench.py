"""`inbox bench` end to end at a tiny scale (INBOX_BENCH_SCALE=tiny): every phase runs against real
servers, sockets and databases, and the JSON has the promised keys. Figures are not judged here: a
tiny run measures nothing, and tests never assert timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.databases import PG_URL, pg_ok

KEYS = (
    "bare_http_rps",
    "ingest_rps_sqlite",
    "ingest_rps_postgresql",
    "ingest_ratio_sqlite",
    "ingest_ratio_postgresql",
    "e2e_latency_ms",
    "socket_kib",
    "bare_socket_kib",
    "fanout_ms",
    "bare_fanout_ms",
    "outbound_rps",
    "reminders_runs_per_second_sqlite",
    "reminders_runs_per_second_postgresql",
    "reminders_ingest_ratio_sqlite",
    "reminders_ingest_ratio_postgresql",
)

# A tiny run takes 20-60 s on a quiet 2-core box and several times that on a loaded one: the bound is
# there to stop a hung run, not to judge speed.
pytestmark = pytest.mark.timeout(330)


def _bench(*args: str, timeout: float = 300) -> dict:
    env = {**os.environ, "INBOX_BENCH_SCALE": "tiny"}
    env.pop("INBOX_TEST_DATABASE_URL", None)  # only what the arguments say
    done = subprocess.run(
        [sys.executable, "-m", "inbox.cli", "bench", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_bench_json_has_every_figure() -> None:
    args = ["--database", "both", "--postgres-url", PG_URL] if pg_ok() else ["--database", "sqlite"]
    r = _bench(*args)
    assert set(KEYS) <= set(r), set(KEYS) - set(r)
    assert r["notes"] == [] or all("postgresql" in n for n in r["notes"]), r["notes"]
    measured = ["bare_http_rps", "ingest_rps_sqlite", "ingest_ratio_sqlite", "socket_kib", "bare_socket_kib",
                "fanout_ms", "bare_fanout_ms", "outbound_rps"]  # fmt: skip
    if pg_ok():
        measured += ["ingest_rps_postgresql", "ingest_ratio_postgresql"]
    else:
        assert r["ingest_rps_postgresql"] is None and r["ingest_ratio_postgresql"] is None
    for key in measured:
        assert isinstance(r[key], (int, float)) and r[key] > 0, (key, r[key])
    assert set(r["e2e_latency_ms"]) == {"200", "500"}
    for rate, figures in r["e2e_latency_ms"].items():
        assert figures is not None, rate
        assert 0 < figures["p50"] <= figures["p99"] <= figures["max"], (rate, figures)
    for db in ("sqlite", "postgresql") if pg_ok() else ("sqlite",):
        ingest = r["detail"][f"ingest_{db}"]
        assert ingest["verified"] and ingest["committed"] == ingest["accepted"] > 0, ingest
    assert r["detail"]["outbound"]["sent"] == r["detail"]["outbound"]["replies"]


def test_bench_only_outbound_counts_the_servers_work() -> None:
    r = _bench("--only", "outbound", "--database", "sqlite")
    assert r["notes"] == [], r["notes"]
    out = r["detail"]["outbound_sqlite"]
    assert out["sent"] == out["replies"] and r["outbound_rps"] == out["rps"] > 0
    assert set(out["per_reply"]) == {"statements", "transactions", "commits"}
    assert out["per_reply"]["commits"] > 0 and out["statements_by_text"]
    assert r["bare_http_rps"] is None and r["ingest_rps_sqlite"] is None  # nothing else ran


def test_bench_search_rows() -> None:
    """`inbox bench --search` at the tiny scale: each database seeded (PostgreSQL through COPY, SQLite
    through the FTS triggers), both roles searched over HTTP, every query answered; the hits show the
    seeded history is what was searched (the figures themselves are not judged)."""
    args = ["--database", "both", "--postgres-url", PG_URL] if pg_ok() else ["--database", "sqlite"]
    r = _bench("--search", *args)
    assert r["notes"] == [], r["notes"]
    dbs = ("sqlite", "postgresql") if pg_ok() else ("sqlite",)
    assert set(r["search"]) == set(dbs)
    for db in dbs:
        s = r["search"][db]
        assert s["seed"]["messages"] == s["messages"] > 0 and s["seed"]["tenants"] == 4, s["seed"]
        for role in ("admin", "agent"):
            figures = s["roles"][role]
            assert 0 < figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"], (db, role)
            assert figures["requests"] == 8 and figures["floor"]["p95"] > 0
            q = figures["queries"]
            assert q["no hit"]["messages"] == 0 and q["no hit"]["contacts"] == 0, (db, role)
            assert q["phone fragment"]["contacts"] <= 1
        admin = s["roles"]["admin"]["queries"]
        assert admin["common word"]["messages"] == 30 and admin["2 letters"]["messages"] > 0, admin
        assert r["targets"][f"search_p95_{db}_admin"]["value"] == s["roles"]["admin"]["p95"]


def test_bench_only_metrics_compares_ingest_with_metrics_on_and_off() -> None:
    r = _bench("--only", "metrics", "--rounds", "1", "--database", "sqlite")
    assert r["notes"] == [], r["notes"]
    runs = r["detail"]["metrics_ab"]["runs"]
    assert [(x["round"], x["database"], x["metrics"]) for x in runs] == [
        (1, "sqlite", "on"),
        (1, "sqlite", "off"),
    ]
    assert all(x["verified"] and x["rps"] > 0 and x["ratio"] > 0 for x in runs), runs
    # The switch does what it says: the server with metrics off counted nothing.
    on, off = runs
    assert on["stored_counted_by_metrics"] > 0 and off["stored_counted_by_metrics"] == 0
    cost = r["metrics_cost"]["sqlite"]
    assert cost["on"]["runs"] == cost["off"]["runs"] == 1 and len(cost["change_percent_by_round"]) == 1
    assert r["ingest_rps_sqlite"] is None  # nothing else ran


def test_bench_only_automations_drains_the_due_reminders() -> None:
    args = ["--database", "both", "--postgres-url", PG_URL] if pg_ok() else ["--database", "sqlite"]
    r = _bench("--only", "automations", *args)
    assert r["notes"] == [] or all("understates" in n for n in r["notes"]), r["notes"]
    for db in ("sqlite", "postgresql") if pg_ok() else ("sqlite",):
        out = r["detail"][f"automations_{db}"]
        # Every reminder decided once, sent, and accepted by the provider; every webhook stored.
        assert out["runs"] == {"sent": out["reminders"]} and out["provider_accepted"] == out["reminders"]
        assert out["verified_runs"] and out["verified_ingest"], out
        assert r[f"reminders_runs_per_second_{db}"] == out["runs_per_second"] > 0
        assert out["ingest_alone"]["ok"] > 0 and out["ingest_draining"]["ok"] > 0
        assert r[f"reminders_ingest_ratio_{db}"] == out["ingest_ratio"]
    assert r["bare_http_rps"] is None and r["outbound_rps"] is None  # nothing else ran


def test_bench_only_growth_seeds_and_measures() -> None:
    r = _bench("--only", "growth", "--database", "sqlite", timeout=300)  # two servers, two ingests
    assert r["notes"] == [], r["notes"]
    g = r["growth"]["sqlite"]
    assert g["seeded"]["messages"] == 500 and g["seeded"]["conversations"] == 50
    for run in ("ingest_empty", "ingest_grown"):
        assert g[run]["verified"] and g[run]["committed"] == g[run]["accepted"] > 0, g[run]
    assert g["ingest_ratio_grown_to_empty"] > 0
    for listing in (g["list_ms"], g["list_ms_small_tenant"]):
        assert 0 < listing["p50"] <= listing["p95"] <= listing["max"], listing
    assert g["replay"]["events"] >= 100  # the seeded log's tail, replayed in order


def test_bench_only_scaleout_measures_one_and_two_processes() -> None:
    """`--only scaleout`: ingest through `inbox serve --workers 1` and `--workers 2` (both verified:
    every 200 committed), CPU counted for each server process, and the latency phase with webhooks
    and sockets on different processes missing no delivery. Without PostgreSQL it says why."""
    if not pg_ok() or not os.environ.get("INBOX_TEST_REDIS_URL"):
        r = _bench("--only", "scaleout", "--database", "sqlite")
        assert r["scaleout_ratio"] is None
        assert r["notes"] == ["scale-out: not measured (needs PostgreSQL: --postgres-url or "
                              "INBOX_TEST_DATABASE_URL, reachable)"], r["notes"]  # fmt: skip
        pytest.skip("PostgreSQL and Redis needed for the measurement itself")
    r = _bench("--only", "scaleout", "--rounds", "2", "--database", "postgresql", "--postgres-url", PG_URL)
    assert r["notes"] == [], r["notes"]
    out = r["detail"]["scaleout"]
    for n in ("1", "2"):
        ingest = out["ingest"][n]
        assert ingest["verified"] and ingest["committed"] == ingest["accepted"] > 0, ingest
        servers = ingest["cpu"]["cores"]["inbox_serve"]
        assert len(servers) == int(n) + (n == "2")  # the supervisor beside its two children
        assert ingest["cpu"]["us_per_webhook"]["total"] > 0
    assert [x["round"] for x in out["rounds"]] == [1, 2] and all(x["verified"] for x in out["rounds"])
    assert r["scaleout_ratio"] == out["ratio"] > 0
    across = out["e2e_across_processes"]
    assert across["deliveries"] == across["expected"] > 0 and across["missed"] == across["duplicates"] == 0
    assert 0 < r["e2e_across_processes_ms"]["p50"] <= r["e2e_across_processes_ms"]["p99"]
    assert r["bare_http_rps"] is None and r["ingest_rps_postgresql"] is None  # nothing else ran

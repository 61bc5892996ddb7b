"""`inbox bench` end to end at a tiny scale (INBOX_BENCH_SCALE=tiny): every phase runs against real
servers, sockets and databases, and the JSON has the promised keys. Figures are not judged here: a
tiny run measures nothing, and tests never assert timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
)


def _bench(*args: str, timeout: float = 110) -> dict:
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

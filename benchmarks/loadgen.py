"""The HTTP load generator: a separate process, raw keep-alive sockets, uvloop, pre-built requests.

Run as `python -m benchmarks.loadgen` with a JSON spec on stdin; prints one JSON result on stdout.
It must not be the bottleneck: requests are built before the clock starts, responses are parsed only
as far as status and length, and there is no HTTP library in the way. Closed loop (N connections,
one request in flight each, no pipelining, as providers deliver) for throughput; open loop (sends
scheduled by time, independent of answers) for latency at a fixed rate. Bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchmarks.payloads import Target, build_requests, mixed_messages

_now = time.monotonic  # CLOCK_MONOTONIC: comparable across the bench's processes


class _Conn(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, done: Callable[[_Conn, int, float], None], lost: Callable[[_Conn], None]) -> None:
        self._done = done
        self._lost = lost
        self._buf = b""
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.tag = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def send(self, request: bytes, tag: int) -> float:
        assert self.transport is not None
        self.tag = tag
        self.sent_at = _now()
        self.transport.write(request)
        return self.sent_at

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self._buf = buf
            return
        head = buf[:end].lower()
        length = 0
        at = head.find(b"content-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at)
            length = int(head[at + 15 : stop if stop >= 0 else None])
        total = end + 4 + length
        if len(buf) < total:
            self._buf = buf
            return
        self._buf = buf[total:]
        self._done(self, int(buf[9:12]), _now())

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(self)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    v = sorted(values)
    pick = lambda q: round(v[min(len(v) - 1, int(q * len(v)))] * 1000, 3)  # noqa: E731
    return {"p50": pick(0.50), "p99": pick(0.99), "max": round(v[-1] * 1000, 3)}


async def _connect(
    port: int, done: Callable[[_Conn, int, float], None], lost: Callable[[_Conn], None]
) -> _Conn:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: _Conn(done, lost), "127.0.0.1", port)
    return proto


async def closed_loop(spec: dict[str, Any], requests: list[bytes]) -> dict[str, Any]:
    """`connections` clients, each sending its next request as soon as the answer arrives."""
    port, duration, warmup = spec["port"], float(spec["duration"]), float(spec.get("warmup", 0))
    cycle = bool(spec.get("cycle", False))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    counted = 0
    state = {"next": 0, "inflight": 0, "errors": 0}
    finished = asyncio.Event()
    t_start = _now()
    t_measure, t_end = t_start + warmup, t_start + warmup + duration
    last_done = t_start

    def issue(conn: _Conn) -> None:
        i = state["next"]
        if _now() >= t_end or (i >= len(requests) and not cycle):
            if state["inflight"] == 0:
                finished.set()
            return
        state["next"] = i + 1
        state["inflight"] += 1
        conn.send(requests[i % len(requests)], i)

    def done(conn: _Conn, status: int, at: float) -> None:
        nonlocal counted, last_done
        state["inflight"] -= 1
        statuses[status] += 1
        if at >= t_measure and conn.sent_at >= t_measure:
            counted += 1
            latencies.append(at - conn.sent_at)
            last_done = at
        issue(conn)

    def lost(conn: _Conn) -> None:
        if conn.tag >= 0 and conn.transport is not None and not finished.is_set():
            state["errors"] += 1

    conns = [await _connect(port, done, lost) for _ in range(int(spec["connections"]))]
    t_start = _now()
    t_measure, t_end = t_start + warmup, t_start + warmup + duration
    for c in conns:
        issue(c)
    try:
        await asyncio.wait_for(finished.wait(), timeout=warmup + duration + 30)
    except TimeoutError:
        state["errors"] += state["inflight"]
    window = max(min(last_done, t_end) - t_measure, 1e-9)
    for c in conns:
        c.tag = -1
        if c.transport is not None:
            c.transport.close()
    return {
        "sent": state["next"],
        "statuses": {str(k): v for k, v in statuses.items()},
        "ok": statuses.get(200, 0),
        "errors": state["errors"],
        "measured": counted,
        "window_s": round(window, 3),
        "rps": round(counted / window, 1),
        "latency_ms": _percentiles(latencies),
    }


async def open_loop(spec: dict[str, Any], requests: list[bytes]) -> dict[str, Any]:
    """Request i leaves at start + i / rate, whatever the answers; records when each really left."""
    port, rate = spec["port"], float(spec["rate"])
    max_conns = int(spec.get("max_connections", 512))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    sent_at: list[float] = [0.0] * len(requests)
    idle: list[_Conn] = []
    state = {"open": 0, "inflight": 0, "errors": 0, "late": 0.0}
    drained = asyncio.Event()
    waiters: list[asyncio.Future[None]] = []

    def done(conn: _Conn, status: int, at: float) -> None:
        statuses[status] += 1
        latencies.append(at - conn.sent_at)
        state["inflight"] -= 1
        conn.tag = -1
        idle.append(conn)
        if waiters:
            w = waiters.pop(0)
            if not w.done():
                w.set_result(None)
        if state["inflight"] == 0:
            drained.set()

    def lost(conn: _Conn) -> None:
        if conn.tag >= 0:
            state["errors"] += 1
            state["inflight"] -= 1
        if conn in idle:
            idle.remove(conn)
        state["open"] -= 1

    async def grab() -> _Conn:
        while True:
            if idle:
                return idle.pop()
            if state["open"] < max_conns:
                state["open"] += 1
                return await _connect(port, done, lost)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiters.append(fut)
            await fut

    for _ in range(int(spec.get("connections", 64))):
        state["open"] += 1
        idle.append(await _connect(port, done, lost))
    t0 = _now() + 0.05
    for i, req in enumerate(requests):
        due = t0 + i / rate
        delay = due - _now()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await grab()
        drained.clear()
        state["inflight"] += 1
        sent_at[i] = conn.send(req, i)
        state["late"] = max(state["late"], sent_at[i] - due)
    try:
        await asyncio.wait_for(drained.wait(), timeout=30)
    except TimeoutError:
        state["errors"] += state["inflight"]
    for c in idle:
        if c.transport is not None:
            c.transport.close()
    elapsed = max(sent_at) - min(sent_at) if requests else 0.0
    return {
        "sent": len(requests),
        "statuses": {str(k): v for k, v in statuses.items()},
        "ok": statuses.get(200, 0),
        "errors": state["errors"],
        "achieved_rate": round((len(requests) - 1) / elapsed, 1) if elapsed > 0 else None,
        "max_send_lag_ms": round(state["late"] * 1000, 3),
        "connections_used": state["open"],
        "latency_ms": _percentiles(latencies),
        "sent_at": sent_at,
    }


def requests_for(spec: dict[str, Any]) -> list[bytes]:
    targets = [Target.of(t) for t in spec["targets"]]
    if "messages" in spec:
        messages = [tuple(m) for m in spec["messages"]]
    else:
        mix = spec["mix"]
        known = [(int(k[0]), str(k[1])) for k in mix["known"]]
        messages = mixed_messages(
            len(targets),
            known,
            int(mix["count"]),
            float(mix["new_ratio"]),
            int(mix["seed"]),
            int(mix["first_new"]),
        )
    return build_requests(targets, messages, spec["run_id"])


async def _main() -> None:
    spec = json.loads(sys.stdin.read())
    requests = requests_for(spec)
    run = open_loop if spec["mode"] == "open" else closed_loop
    cpu0, t0 = time.process_time(), _now()
    result = await run(spec, requests)
    # How busy the generator itself was: near 1.0 would mean it, not the server, set the pace.
    result["generator_cpu"] = round((time.process_time() - cpu0) / (_now() - t0), 3)
    sys.stdout.write(json.dumps(result) + "\n")


def main() -> None:
    try:
        import uvloop

        uvloop.run(_main())
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(_main())


if __name__ == "__main__":
    main()

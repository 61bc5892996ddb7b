"""Websocket clients for the bench: many raw sockets in one process, timestamps on arrival.

`python -m benchmarks.wsclient`, driven by JSON lines on stdin, answering JSON lines on stdout:
first `{"port", "paths"}` (connects every path and waits for each socket's first frame), then
commands `{"cmd": "wait", "id", "timeout"}` (until every socket got message `id`), `{"cmd": "report"}`
and `{"cmd": "close"}`.
A minimal RFC 6455 client (no library): cheap enough that thousands of sockets in one process keep
up with the server. Frames carrying `bench#ID#` in a `message.created` event are recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from typing import Any

from benchmarks.bare import raise_fd_limit

_now = time.monotonic
MARK = b"bench#"
CREATED = b'"type":"message.created"'


def _client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """Client frames must be masked (RFC 6455 5.3); payloads here are control-sized."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


class Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[int, int, float]] = []  # (socket index, message id, arrival)
        self.counts: dict[int, int] = {}
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.waiting: dict[int, tuple[int, asyncio.Future[None]]] = {}
        self.closed = 0

    def got(self, sock: int, mid: int, at: float) -> None:
        self.records.append((sock, mid, at))
        n = self.counts.get(mid, 0) + 1
        self.counts[mid] = n
        self.first.setdefault(mid, at)
        self.last[mid] = at
        w = self.waiting.get(mid)
        if w is not None and n >= w[0] and not w[1].done():
            w[1].set_result(None)


class _Socket(asyncio.Protocol):
    def __init__(self, index: int, request: bytes, rec: Recorder) -> None:
        self.index = index
        self._request = request
        self._rec = rec
        self._buf = b""
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        transport.write(self._request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self._rec.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before ready: {exc}"))

    def data_received(self, data: bytes) -> None:
        at = _now()
        buf = self._buf + data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buf = buf
                return
            if b" 101 " not in buf[: buf.find(b"\r\n")]:
                if not self.ready.done():
                    self.ready.set_exception(
                        ConnectionError(buf[: buf.find(b"\r\n")].decode(errors="replace"))
                    )
                assert self.transport is not None
                self.transport.close()
                return
            self._upgraded = True
            buf = buf[end + 4 :]
        pos, n = 0, len(buf)
        while n - pos >= 2:
            op, ln, hdr = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln, hdr = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln, hdr = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < hdr + ln:
                break
            payload = buf[pos + hdr : pos + hdr + ln]
            pos += hdr + ln
            self._frame(op, payload, at)
        self._buf = buf[pos:]

    def _frame(self, op: int, payload: bytes, at: float) -> None:
        assert self.transport is not None
        if op == 0x9:  # ping: answer, or the server drops us as dead
            self.transport.write(_client_frame(0xA, payload))
        elif op == 0x8:
            self.transport.close()
        elif op in (0x1, 0x0):
            if not self.ready.done():
                self.ready.set_result(None)
            at_mark = payload.find(MARK)
            if at_mark >= 0 and CREATED in payload:
                start = at_mark + len(MARK)
                self._rec.got(self.index, int(payload[start : payload.index(b"#", start)]), at)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()


def _handshake(path: str, port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def _connect_all(
    port: int, paths: list[str], rec: Recorder, concurrency: int, base: int
) -> tuple[list[_Socket], list[str]]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    sockets: list[_Socket] = []
    errors: list[str] = []

    async def one(i: int, path: str) -> None:
        async with gate:
            try:
                _, s = await loop.create_connection(
                    lambda: _Socket(base + i, _handshake(path, port), rec), "127.0.0.1", port
                )
                await asyncio.wait_for(s.ready, timeout=30)
                sockets.append(s)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))
    return sockets, errors


def _say(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


async def _main() -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    spec = json.loads(await reader.readline())
    rec = Recorder()
    base = int(spec.get("first_index", 0))
    t0 = _now()
    sockets, errors = await _connect_all(
        spec["port"], spec["paths"], rec, int(spec.get("concurrency", 100)), base
    )
    _say({"connected": len(sockets), "failed": len(errors), "errors": errors[:3], "seconds": _now() - t0})
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd["cmd"] == "wait":
            mid, count = int(cmd["id"]), len(sockets)
            fut: asyncio.Future[None] = loop.create_future()
            rec.waiting[mid] = (count, fut)
            if rec.counts.get(mid, 0) >= count:
                fut.set_result(None)
            try:
                await asyncio.wait_for(fut, timeout=float(cmd["timeout"]))
            except TimeoutError:
                pass
            _say({"got": rec.counts.get(mid, 0), "first": rec.first.get(mid), "last": rec.last.get(mid)})
        elif cmd["cmd"] == "report":
            _say({"records": rec.records, "closed": rec.closed})
            rec.records.clear()
        elif cmd["cmd"] == "close":
            for s in sockets:
                s.close()
            await asyncio.sleep(0.2)
            _say({"closed": True})
            return


def main() -> None:
    try:
        import uvloop

        uvloop.run(_main())
    except ImportError:  # pragma: no cover
        asyncio.run(_main())


if __name__ == "__main__":
    main()

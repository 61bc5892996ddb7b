"""The network backend of the outgoing HTTP clients: httpcore's sockets on asyncio's own transports.

Owns connecting (TCP; TLS with SNI, and ALPN as httpcore sets it on the shared context of
inbox/tls.py), reading and writing with httpcore's timeouts and exceptions, and the `is_readable`
that httpcore's pool asks of every idle connection at every request. Must not know about HTTP or
providers; used through `inbox.tls.outgoing_client`.

Why: httpx's default backend goes through anyio, whose stream wrapper and cancel scope per read and
write were a quarter of the HTTP client's samples in the outbox drain (docs/benchmark.md,
"Outbound"). A client loop against a local server (32 clients of one connection, as the outbox's
lanes), A/B in one process on a loaded 2-core box: anyio's backend 0.88 ms CPU per request on
uvloop, asyncio's `StreamReader`/`StreamWriter` 0.74 ms (-16%), this protocol 0.69 ms (-20 to -24%
over five runs, on uvloop and on asyncio's loop): a read that finds data buffered returns without
waiting, a timer is armed only while waiting, and `is_readable` is an attribute, not a `poll`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import Iterable

import aiohappyeyeballs
import httpcore
import httpx
from httpcore._backends.base import SOCKET_OPTION  # the type httpcore's interface names; not exported

# The `timeout` arguments below are httpcore's interface (ruff's ASYNC109 would have a cancel scope).
# ruff: noqa: ASYNC109


class _Connection(asyncio.Protocol):
    """The socket's side: what the loop has read, and whether writing must wait (flow control)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.paused = False  # reading paused: the buffer is over _HIGH
        self.write_paused = False
        self.waiter: asyncio.Future[None] | None = None  # a read, or a write waiting for the buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # the transport closes: an HTTP/1.1 client has nothing to say after the end

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self.write_paused = False
        self._wake()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake()

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until `_wake`; TimeoutError after `timeout` seconds. A timer only while waiting (no cancel
        scope, no task cancellation: the point of this module)."""
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if self.waiter is waiter:
                self.waiter = None


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


# The head start of each address over the next when connecting (anyio's and RFC 8305's 250 ms).
HAPPY_EYEBALLS_DELAY = 0.25
# Reading pauses while this much is buffered and unread (httpcore reads 64 KiB at a time).
_HIGH = 256 * 1024


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, as httpcore uses it: one reader or writer at a time."""

    __slots__ = ("_conn", "_transport")

    def __init__(self, conn: _Connection) -> None:
        assert conn.transport is not None
        self._conn = conn
        self._transport = conn.transport

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        conn = self._conn
        while not conn.buffer:
            if conn.error is not None:
                raise httpcore.ReadError(conn.error)
            if conn.eof:
                return b""
            try:
                await conn.wait(timeout)
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(exc) from exc
        data = bytes(conn.buffer[:max_bytes])
        del conn.buffer[:max_bytes]
        if conn.paused and len(conn.buffer) <= _HIGH // 4:
            conn.paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        conn = self._conn
        if conn.error is not None or self._transport.is_closing():
            raise httpcore.WriteError(conn.error or ConnectionResetError("the connection is closed"))
        self._transport.write(buffer)
        while conn.write_paused:
            try:
                await conn.wait(timeout)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(exc) from exc
        if conn.error is not None:
            raise httpcore.WriteError(conn.error)

    async def aclose(self) -> None:
        # Not waiting for the close: over TLS it would wait for the peer's close_notify.
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    self._transport, self._conn, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:  # ssl.SSLError (a bad certificate, a wrong name) is an OSError
            self._transport.close()
            raise httpcore.ConnectError(exc) from exc
        if tls is None:  # only for a transport closed meanwhile
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._conn.transport = tls
        return AsyncioStream(self._conn)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # httpcore asks it of every idle connection at each request: did the server close it
            # (or send something unasked)? The loop reads eagerly, so the answer is here, no poll.
            conn = self._conn
            return bool(conn.buffer) or conn.eof or self._transport.is_closing()
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio's transports (asyncio's loop or uvloop; not trio)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                local = (
                    None
                    if local_address is None
                    else await loop.getaddrinfo(local_address, 0, type=socket.SOCK_STREAM)
                )
                # Happy eyeballs (RFC 8305), as anyio's backend does, on any loop (uvloop, which
                # `inbox serve` runs, has none of its own): a host's addresses are tried families
                # interleaved, the next one HAPPY_EYEBALLS_DELAY after the last unless it failed first,
                # so that an address that swallows the connection (a broken IPv6 route) does not eat
                # the whole connect timeout.
                sock = await aiohappyeyeballs.start_connection(
                    infos, local_addr_infos=local, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY, interleave=1
                )
                try:
                    _, conn = await loop.create_connection(_Connection, sock=sock)
                except BaseException:
                    sock.close()
                    raise
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:  # socket.gaierror included
            raise httpcore.ConnectError(exc) from exc
        return _with_options(conn, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_unix_connection(_Connection, path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ConnectError(exc) from exc
        return _with_options(conn, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _with_options(conn: _Connection, options: Iterable[SOCKET_OPTION] | None) -> AsyncioStream:
    stream = AsyncioStream(conn)
    if options:
        sock = stream.get_extra_info("socket")  # asyncio's TransportSocket
        for option in options:
            sock.setsockopt(*option)
    return stream


BACKEND = AsyncioBackend()


class Transport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on `AsyncioBackend` (HTTP/1.1, no proxy).

    httpx has no argument for a network backend: its pool is built as httpx builds it, then replaced
    by one with the same arguments plus `network_backend=` (tests/inbox/test_netstreams.py checks
    that the pool in use is ours, should httpx rename it)."""

    def __init__(self, *, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=BACKEND,
        )

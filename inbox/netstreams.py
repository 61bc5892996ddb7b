"""The network backend of the outgoing HTTP clients: httpcore's sockets on plain asyncio streams.

Owns connecting (TCP, TLS with SNI and ALPN from the shared context of inbox/tls.py), reading and
writing with httpcore's timeouts and exceptions, and the cheap `is_readable` that httpcore's pool
asks of every idle connection at every request. Must not know about HTTP or providers.

Why: httpx's default backend goes through anyio, whose stream wrapper and per-call cancel scopes
were a quarter of the HTTP client's samples in the outbox drain (docs/benchmark.md, "Outbound").
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import Iterable

import httpcore
import httpx

# What httpcore asks for per connection and per read (its READ_NUM_BYTES is 64 KiB).
_SocketOption = httpcore._backends.base.SOCKET_OPTION  # noqa: SLF001 - httpcore exports no name for it


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: an asyncio `StreamReader`/`StreamWriter` pair."""

    __slots__ = ("_reader", "_writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(exc) from exc
        except (OSError, RuntimeError) as exc:  # RuntimeError: written after the transport closed
            raise httpcore.WriteError(exc) from exc

    async def aclose(self) -> None:
        # Not waiting for the close: over TLS it would wait for the peer's close_notify.
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._writer.close()
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:  # ssl.SSLError (a bad certificate, a wrong name) is an OSError
            self._writer.close()
            raise httpcore.ConnectError(exc) from exc
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # An idle keep-alive connection the server closed, or that broke: asyncio has already
            # read the EOF or the error (no poll of the socket, which the loop reads eagerly anyway).
            reader = self._reader
            return reader.at_eof() or reader.exception() is not None or self._writer.is_closing()
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio streams (asyncio's loop or uvloop; not trio)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local_addr = None if local_address is None else (local_address, 0)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ConnectError(exc) from exc
        return _with_options(reader, writer, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(exc) from exc
        except OSError as exc:
            raise httpcore.ConnectError(exc) from exc
        return _with_options(reader, writer, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _with_options(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, options: Iterable[_SocketOption] | None
) -> AsyncioStream:
    sock: socket.socket = writer.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)
    return AsyncioStream(reader, writer)


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

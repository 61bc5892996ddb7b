"""The outgoing clients' network backend (inbox/netstreams.py) on real sockets on 127.0.0.1: keep-alive
reuse, a server that closes an idle connection, a large body (flow control), timeouts and refusals as
the outbox classifies them, and TLS with SNI and ALPN against a certificate made here."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from channels.base import ChannelConfig, Outgoing
from channels.notificame import NotificameAdapter
from inbox.netstreams import BACKEND, Transport
from inbox.tls import outgoing_client, tls_context
from inbox.workers.outbox import _Send, send

BODY = b'{"id":"nm-1"}'
LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4)


class _Server:
    """A raw HTTP/1.1 server: answers each request with `body` (keep-alive) unless `silent`, and
    counts connections; `close_after` closes a connection after that many answers."""

    def __init__(self, body: bytes = BODY, *, silent: bool = False, close_after: int = 0) -> None:
        self.body, self.silent, self.close_after = body, silent, close_after
        self.connections = 0
        self.requests = 0
        self.open: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open.add(writer)
        answered = 0
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests += 1
                if self.silent:
                    continue
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                    % len(self.body)
                    + self.body
                )
                await writer.drain()
                answered += 1
                if answered == self.close_after:
                    break
        writer.close()
        self.open.discard(writer)


@contextlib.asynccontextmanager
async def serving(server: _Server, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()
        for writer in list(server.open):  # connections still open (Server.close leaves them)
            writer.close()
        await listening.wait_closed()


def _stream_of(response: httpx.Response) -> Any:
    return response.extensions["network_stream"]


async def test_the_outgoing_client_is_on_our_backend_and_keeps_its_connection_alive() -> None:
    server = _Server()
    async with serving(server) as port, outgoing_client(timeout=5, limits=LIMITS) as http:
        # httpx builds its own pool first; ours must be the one in use (should httpx rename it).
        assert http._transport._pool._network_backend is BACKEND  # type: ignore[attr-defined]
        assert http._transport._pool._ssl_context is tls_context()  # type: ignore[attr-defined]
        for n in range(3):
            response = await http.post(f"http://127.0.0.1:{port}/v1/messages", json={"n": n})
            assert response.status_code == 200 and response.json() == {"id": "nm-1"}
        assert server.requests == 3 and server.connections == 1
        stream = _stream_of(response)
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
        assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
        assert stream.get_extra_info("ssl_object") is None


async def test_an_idle_connection_the_server_closed_is_replaced_without_an_error() -> None:
    server = _Server(close_after=1)
    async with serving(server) as port, outgoing_client(timeout=5, limits=LIMITS) as http:
        first = await http.get(f"http://127.0.0.1:{port}/")
        for _ in range(100):  # until the loop has read the server's end of the connection
            if _stream_of(first).get_extra_info("is_readable"):
                break
            await asyncio.sleep(0.01)
        assert _stream_of(first).get_extra_info("is_readable")
        second = await http.get(f"http://127.0.0.1:{port}/")
        assert second.status_code == 200 and server.connections == 2


async def test_a_large_body_is_read_whole_through_flow_control() -> None:
    body = bytes(range(256)) * 8192  # 2 MiB: reading pauses and resumes several times
    server = _Server(body)
    async with serving(server) as port, outgoing_client(timeout=5, limits=LIMITS) as http:
        async with http.stream("GET", f"http://127.0.0.1:{port}/") as response:
            got = bytearray()
            async for chunk in response.aiter_raw():
                got += chunk
                await asyncio.sleep(0)  # a slow consumer
        assert bytes(got) == body
        again = await http.get(f"http://127.0.0.1:{port}/")  # the connection is reusable after
        assert len(again.content) == len(body) and server.connections == 1


# The outbox's classification, through the real adapter's `post_json` and the outbox's `send`.

CHANNEL = ChannelConfig(
    id=1, tenant_id=1, kind="whatsapp", provider="notificame", name="wa", external_id="ch-1",
    secrets={"notificame_token": "t"},
)  # fmt: skip


def _runtime(timeout: float) -> Any:
    settings = SimpleNamespace(
        send_timeout_seconds=timeout,
        send_max_attempts=8,
        send_backoff_base_seconds=0.05,
        send_backoff_max_seconds=0.2,
    )
    return SimpleNamespace(settings=settings, metrics=SimpleNamespace(send=lambda kind: None))


async def _send_to(url: str, seconds: float) -> Any:
    """One row through the outbox's `send` on `rt.http` (no lanes), to the real Notifica.me adapter."""
    rt = _runtime(seconds)
    row = SimpleNamespace(id=7, message_id=70, attempts=1)
    out = Outgoing(message_id=70, to="55119", text="hi")
    job = _Send(cast(Any, row), NotificameAdapter(url), CHANNEL, out)
    async with outgoing_client(timeout=seconds, limits=LIMITS) as http:
        rt.http = http
        return await send(rt, job, asyncio.Event())


async def test_a_sent_message_through_the_outbox() -> None:
    async with serving(_Server()) as port:
        outcome = await _send_to(f"http://127.0.0.1:{port}/v1", seconds=5)
    assert outcome.kind == "sent" and outcome.provider_message_id == "nm-1"


async def test_a_server_that_never_answers_times_out_and_the_row_is_retried() -> None:
    server = _Server(silent=True)
    async with serving(server) as port:
        loop = asyncio.get_running_loop()
        began = loop.time()
        outcome = await _send_to(f"http://127.0.0.1:{port}/v1", seconds=0.3)
        took = loop.time() - began
    assert server.requests == 1  # the request went out whole; the answer never came
    assert outcome.kind == "retry" and outcome.reason == "Notifica.me: timed out (ReadTimeout)"
    assert 0.25 <= took < 3


async def test_a_refused_connection_is_a_network_error_and_the_row_is_retried() -> None:
    async with serving(_Server()) as port:
        pass  # closed: nothing listens on the port any more
    outcome = await _send_to(f"http://127.0.0.1:{port}/v1", seconds=5)
    assert outcome.kind == "retry" and outcome.reason == "Notifica.me: network error (ConnectError)"


async def test_the_backend_raises_httpcores_timeouts() -> None:
    server = _Server(silent=True)
    async with serving(server) as port:
        stream = await BACKEND.connect_tcp("127.0.0.1", port, timeout=5)
        try:
            await stream.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", timeout=1)
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(65536, timeout=0.05)
        finally:
            await stream.aclose()
    with pytest.raises(httpcore.ConnectError):
        await BACKEND.connect_tcp("127.0.0.1", port, timeout=5)


@contextlib.contextmanager
def _black_hole() -> Any:
    """An address whose connections hang: a listener that never accepts, its accept queue filled,
    so the kernel drops further SYNs (as a broken route does) and a connect waits for its timeout."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    address = hole.getsockname()
    filling = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(address)
            filling.append(s)
        yield address
    finally:
        for s in [*filling, hole]:
            s.close()


async def test_an_address_that_swallows_the_connection_does_not_eat_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Happy eyeballs: a host whose first address hangs (a broken IPv6 route, say) is reached at its
    second one, not given up on when the connect timeout has gone on the first."""
    loop = asyncio.get_running_loop()
    with _black_hole() as hole:
        with pytest.raises(TimeoutError):  # the premise: a plain connect there hangs
            await asyncio.wait_for(asyncio.open_connection(*hole), 0.5)
        async with serving(_Server()) as port:
            real = loop.getaddrinfo

            async def addresses(host: Any, port_: Any, **kw: Any) -> Any:
                if host != "two-addresses.test":
                    return await real(host, port_, **kw)
                tcp = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
                return [(*tcp, hole), (*tcp, ("127.0.0.1", port))]

            monkeypatch.setattr(loop, "getaddrinfo", addresses)
            stream = await BACKEND.connect_tcp("two-addresses.test", port, timeout=3)
            try:
                assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
            finally:
                await stream.aclose()


# TLS: a CA and a certificate for provider.test made here; the client trusts that CA only.


def _certificates(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key: Any, issuer: x509.Name, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("provider.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = cert("test CA", ca_key, ca_name, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert("provider.test", key, ca_name, ca_key, False)
    pem = serialization.Encoding.PEM
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "leaf.pem", tmp / "key.pem")
    server.set_alpn_protocols(["h2", "http/1.1"])
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client


def _names_seen(server_tls: ssl.SSLContext) -> list[str | None]:
    seen: list[str | None] = []

    def callback(sock: Any, name: str | None, context: Any) -> None:
        seen.append(name)

    server_tls.sni_callback = callback
    return seen


async def test_tls_with_sni_and_alpn_against_a_certificate_made_here(tmp_path: Path) -> None:
    server_tls, client_tls = _certificates(tmp_path)
    seen = _names_seen(server_tls)
    server = _Server()
    async with (
        serving(server, server_tls) as port,
        httpx.AsyncClient(transport=Transport(verify=client_tls, limits=LIMITS), timeout=5) as http,
    ):
        url = f"https://127.0.0.1:{port}/v1/messages"
        for _ in range(2):
            response = await http.post(url, json={}, extensions={"sni_hostname": "provider.test"})
            assert response.status_code == 200 and response.json() == {"id": "nm-1"}
        assert seen == ["provider.test"] and server.connections == 1  # one handshake, kept alive
        tls = _stream_of(response).get_extra_info("ssl_object")
        assert isinstance(tls, ssl.SSLObject) and tls.selected_alpn_protocol() == "http/1.1"
        assert tls.server_hostname == "provider.test"

    # A name the certificate does not carry: the handshake fails, as a connect error.
    async with (
        serving(server, server_tls) as port,
        httpx.AsyncClient(transport=Transport(verify=client_tls, limits=LIMITS), timeout=5) as http,
    ):
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"https://127.0.0.1:{port}/", extensions={"sni_hostname": "other.test"})
    # Our trusted CAs only: the process's context (certifi's) refuses this server.
    async with serving(_Server(), server_tls) as port, outgoing_client(timeout=5, limits=LIMITS) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"https://127.0.0.1:{port}/")


async def test_a_tls_handshake_that_never_finishes_is_a_connect_timeout(tmp_path: Path) -> None:
    _, client_tls = _certificates(tmp_path)
    server = _Server(silent=True)  # plain TCP: the ClientHello is never answered
    async with serving(server) as port:
        stream = await BACKEND.connect_tcp("127.0.0.1", port, timeout=5)
        with pytest.raises(httpcore.ConnectTimeout):
            await stream.start_tls(client_tls, server_hostname="provider.test", timeout=0.1)


def test_the_same_on_uvloop(tmp_path: Path) -> None:
    """`inbox serve` runs on uvloop (uvicorn's choice when it is installed): its transports and
    `start_tls` differ from asyncio's. In a thread, on a loop of its own."""
    uvloop = pytest.importorskip("uvloop")

    async def cases() -> None:
        await test_the_outgoing_client_is_on_our_backend_and_keeps_its_connection_alive()
        await test_an_idle_connection_the_server_closed_is_replaced_without_an_error()
        await test_a_large_body_is_read_whole_through_flow_control()
        await test_a_server_that_never_answers_times_out_and_the_row_is_retried()
        await test_a_refused_connection_is_a_network_error_and_the_row_is_retried()
        await test_tls_with_sni_and_alpn_against_a_certificate_made_here(tmp_path)
        await test_a_tls_handshake_that_never_finishes_is_a_connect_timeout(tmp_path)

    failed: list[BaseException] = []

    def run() -> None:
        try:
            uvloop.run(cases())
        except BaseException as exc:  # handed to the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and not failed, failed

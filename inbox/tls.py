"""The TLS settings every outgoing HTTP client of the process shares (providers, webhooks, the bot).

Owns building them once: httpx's defaults (certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR).
Building them parses the whole CA bundle, CPU work of 0.1-0.3 s on this machine class, which httpx
repeats for every client made without `verify=`; the outbox's 32 lane clients, made at once, held
the event loop for 7-13 s at every start under load. An `ssl.SSLContext` is meant to be shared by
many connections. Must not hold per-provider settings. Also owns making those clients
(`outgoing_client`, on the network backend of inbox/netstreams.py) and readying what a process's
first outgoing call would otherwise load on the event loop (`prepare_outgoing`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context for outgoing HTTPS (built on first use; `Runtime.start` builds it in
    a thread so that the event loop never waits for it)."""
    return httpx.create_ssl_context()


def outgoing_client(*, timeout: float, limits: httpx.Limits) -> httpx.AsyncClient:
    """An HTTP client for outgoing calls: the process's TLS context, httpcore on asyncio's own
    transports (inbox/netstreams.py, imported here: it imports httpcore, which httpx loads lazily)."""
    from inbox.netstreams import Transport

    return httpx.AsyncClient(
        transport=Transport(verify=tls_context(), limits=limits), timeout=httpx.Timeout(timeout)
    )


# What httpx imports when its first client is made (its transport, httpcore, which imports trio and
# attrs when they are installed; our backend, which imports httpcore) and at the first request
# (anyio's asyncio backend, still httpcore's locks; h11): 0.3-0.35 s of the event loop at the
# process's first send, measured in the middle of a webhook burst (the first automation message of
# a drain; docs/benchmark.md, "Automations").
_LAZY_IMPORTS = ("httpcore", "inbox.netstreams", "h11", "anyio._backends._asyncio")


def prepare_outgoing() -> None:
    """Build the TLS context and import httpx's lazily loaded parts: run in a thread at start
    (`Runtime.start`), so that no outgoing call does it on the event loop."""
    tls_context()
    for name in _LAZY_IMPORTS:
        with contextlib.suppress(ImportError):  # an optional part (anyio's backend is not public)
            importlib.import_module(name)

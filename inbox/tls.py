"""The TLS settings every outgoing HTTP client of the process shares (providers, webhooks, the bot).

Owns building them once: httpx's defaults (certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR).
Building them parses the whole CA bundle, CPU work of 0.1-0.3 s on this machine class, which httpx
repeats for every client made without `verify=`; the outbox's 32 lane clients, made at once, held
the event loop for 7-13 s at every start under load. An `ssl.SSLContext` is meant to be shared by
many connections. Must not hold per-provider settings.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context for outgoing HTTPS (built on first use; `Runtime.start` builds it in
    a thread so that the event loop never waits for it)."""
    return httpx.create_ssl_context()

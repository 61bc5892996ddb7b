"""Log hygiene: credentials that travel in URLs never reach a log line.

Webhook keys (for providers that do not sign their bodies, the key in the path is the credential)
and `?token=` on the websocket URL would otherwise be printed by uvicorn's access and error logs.
Provider secrets are never logged at all (ChannelConfig hides them from repr; adapters mask tokens
in error text).
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    (re.compile(r"(/webhooks/[a-z]+/)[A-Za-z0-9_\-]+"), r"\1***"),
    (re.compile(r"([?&](?:token|access_token|hub\.verify_token)=)[^&\s\"']+"), r"\1***"),
)


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


_FILTER = RedactingFilter()


def install() -> None:
    """Idempotent: attach the filter to the loggers that print request lines."""
    # aiosqlite logs every statement's parameters (webhook keys among them) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "inbox"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)

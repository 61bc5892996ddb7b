"""Passwords (argon2) and opaque bearer tokens (stored as sha256, with expiry).

Owns who a request is. Must not decide what it may see: that is `inbox.access`.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, delete, select

from inbox import models as m
from inbox.errors import Unauthenticated

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both failures take the same time. Made on
    first use: hashing costs a few hundred milliseconds, which every CLI call would pay at import."""
    return _hasher.hash(secrets.token_urlsafe(16))


ROLES = ("agent", "supervisor", "admin")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    agent_id: int
    tenant_id: int
    role: str
    name: str
    email: str
    queue_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def sees_all(self) -> bool:
        return self.role in ("supervisor", "admin")


_by_token = (
    select(
        m.agents.c.id,
        m.agents.c.tenant_id,
        m.agents.c.role,
        m.agents.c.name,
        m.agents.c.email,
        m.auth_tokens.c.expires_at,
    )
    .join(m.auth_tokens, m.auth_tokens.c.agent_id == m.agents.c.id)
    .where(m.auth_tokens.c.token_hash == bindparam("h"), m.agents.c.disabled_at.is_(None))
)
_queues_of = select(m.queue_members.c.queue_id).where(m.queue_members.c.agent_id == bindparam("aid"))


async def principal_for(conn: object, token: str) -> Principal:
    """The agent behind a bearer token; raises Unauthenticated if unknown, expired or disabled."""
    from sqlalchemy.ext.asyncio import AsyncConnection

    assert isinstance(conn, AsyncConnection)
    if not token:
        raise Unauthenticated("missing bearer token", code="session_invalid")
    row = (await conn.execute(_by_token, {"h": token_hash(token)})).first()
    if row is None:
        raise Unauthenticated("invalid or expired token", code="session_invalid")
    if row.expires_at <= m.utcnow():
        await conn.execute(delete(m.auth_tokens).where(m.auth_tokens.c.token_hash == token_hash(token)))
        await conn.commit()
        raise Unauthenticated("invalid or expired token", code="session_invalid")
    queue_ids = frozenset((await conn.execute(_queues_of, {"aid": row.id})).scalars())
    return Principal(row.id, row.tenant_id, row.role, row.name, row.email, queue_ids)


def ttl(hours: float) -> timedelta:
    return timedelta(hours=hours)

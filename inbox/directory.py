"""Channel lookup by webhook key, with decrypted secrets, cached briefly.

Owns the cache so that the webhook hot path costs no query and no decryption per request. Entries
live a few seconds: a disabled channel stops accepting webhooks within that time in every process
(and at once in the process that disabled it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from channels.base import ChannelConfig
from inbox import models as m

if TYPE_CHECKING:
    from inbox.runtime import Runtime

TTL_SECONDS = 5.0
_by_key = select(m.channels).where(m.channels.c.webhook_key == bindparam("k"))
_by_id = select(m.channels).where(m.channels.c.id == bindparam("id"))


class Directory:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._cache: dict[str, tuple[float, ChannelConfig | None]] = {}
        self._by_id: dict[int, tuple[float, ChannelConfig | None]] = {}

    def forget(self, key: str | None = None) -> None:
        self._by_id.clear()  # keyed by id: a change anywhere forgets them all (few, cheap to reload)
        if key is None:
            self._cache.clear()
        else:
            self._cache.pop(key, None)

    def config(self, row: object, *, with_secrets: bool = True) -> ChannelConfig:
        """A channels row as adapters see it (secrets decrypted, or left out when not needed)."""
        r = row._mapping  # type: ignore[attr-defined]
        return ChannelConfig(
            id=r["id"],
            tenant_id=r["tenant_id"],
            kind=r["kind"],
            provider=r["provider"],
            name=r["name"],
            external_id=r["external_id"],
            secrets=self._runtime.box.open(r["secrets"]) if with_secrets else {},
            settings=dict(r["settings"] or {}),
            bot_enabled=bool(r["bot_enabled"]),
            queue_id=r["queue_id"],
        )

    async def by_key(self, key: str) -> ChannelConfig | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._runtime.engine.connect() as conn:
            row = (await conn.execute(_by_key, {"k": key})).first()
        config = None if row is None or row.disabled_at is not None else self.config(row)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + TTL_SECONDS, config)
        return config

    async def by_id(self, channel_id: int, *, cached: bool = False) -> ChannelConfig | None:
        """`cached`: an answer up to TTL_SECONDS old will do (the outbox, once per batch and channel;
        whether the channel is disabled it reads itself)."""
        now = time.monotonic()
        hit = self._by_id.get(channel_id) if cached else None
        if hit is not None and hit[0] > now:
            return hit[1]
        async with self._runtime.engine.connect() as conn:
            row = (await conn.execute(_by_id, {"id": channel_id})).first()
        config = None if row is None else self.config(row)
        if len(self._by_id) > 10_000:
            self._by_id.clear()
        self._by_id[channel_id] = (now + TTL_SECONDS, config)
        return config

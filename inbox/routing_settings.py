"""A tenant's routing settings: `tenants.settings["routing"]`, every field optional.

Owns the names, defaults and validation. Stored values that no longer validate fall back to the
defaults (logged) so that a bad edit never stops routing.
"""

from __future__ import annotations

import logging
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m
from inbox.validation import TimeZoneName

log = logging.getLogger(__name__)
ROLES = ("agent", "supervisor", "admin")


# The longest grace or target a tenant may set: a year (a larger one overflowed the time arithmetic).
MAX_SECONDS = 366 * 86_400


class RoutingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Off: nothing is assigned automatically; agents pick from their queues (manual mode).
    auto_assign: bool = True
    # Which roles auto-assignment may pick (capacity 0 also keeps someone out).
    assign_roles: tuple[str, ...] = ROLES
    # An away/offline agent's assigned conversations return to the queue after this long; None: never.
    requeue_offline_after_seconds: int | None = Field(default=None, ge=0, le=MAX_SECONDS)
    # First-response target for the SLA flag; None or 0: no SLA.
    sla_first_response_seconds: int | None = Field(default=900, ge=0, le=MAX_SECONDS)
    # "Today" in the supervisor figures and date-only report bounds are in this zone.
    timezone: TimeZoneName = "UTC"

    @field_validator("assign_roles")
    @classmethod
    def _roles(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if r not in ROLES]
        if bad:
            raise ValueError(f"unknown roles {bad}; use {', '.join(ROLES)}")
        return v

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    @property
    def sla_target(self) -> int | None:
        return self.sla_first_response_seconds or None


DEFAULTS = RoutingSettings()


def parse(raw: Any, *, where: str = "") -> RoutingSettings:
    """Lenient: what is stored may be old or hand-edited."""
    if not isinstance(raw, dict):
        return DEFAULTS
    try:
        return RoutingSettings.model_validate(raw)
    except ValidationError as exc:
        log.warning("ignoring invalid routing settings of tenant %s: %s", where, exc.errors()[0]["msg"])
        return DEFAULTS


async def load(conn: AsyncConnection, tenant_id: int) -> RoutingSettings:
    q = select(m.tenants.c.settings).where(m.tenants.c.id == tenant_id)
    stored = (await conn.execute(q)).scalar()
    return parse((stored or {}).get("routing"), where=str(tenant_id))

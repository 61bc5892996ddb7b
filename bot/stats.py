"""Bot usage figures from `bot_turns`: turns per outcome, tokens, latency. Read-only, tenant-scoped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m

bt = m.bot_turns.c


async def usage(conn: AsyncConnection, tenant_id: int, *, since: datetime | None = None) -> dict[str, Any]:
    """`{"turns": {outcome: {"count", "mean_latency_ms"}}, "prompt_tokens", "completion_tokens"}`.

    Outcomes: answered, handoff, error, timeout, and dropped (the model answered but an agent took over
    or the customer wrote again first; its tokens were spent all the same)."""
    q = (
        select(
            bt.outcome,
            func.count(),
            func.coalesce(func.sum(bt.prompt_tokens), 0),
            func.coalesce(func.sum(bt.completion_tokens), 0),
            func.avg(bt.latency_ms),
        )
        .where(bt.tenant_id == tenant_id)
        .group_by(bt.outcome)
    )
    if since is not None:
        q = q.where(bt.created_at >= since)
    out: dict[str, Any] = {"turns": {}, "prompt_tokens": 0, "completion_tokens": 0}
    for outcome, count, prompt, completion, latency in (await conn.execute(q)).all():
        out["turns"][outcome] = {
            "count": int(count),
            "mean_latency_ms": round(float(latency)) if latency is not None else None,
        }
        out["prompt_tokens"] += int(prompt)
        out["completion_tokens"] += int(completion)
    return out

"""CSAT figures: the feedback answers stored on conversations (inbox/automations/answers.py), for
reports and the supervisor view. One grouped query per figure, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inbox import models as m

cv, ag = m.conversations.c, m.agents.c
PERIOD = timedelta(days=30)


def _average(total: Any, n: int) -> float | None:
    return round(float(total) / n, 2) if n else None


async def figures(conn: AsyncConnection, tenant_id: int, *, days: int = 30) -> dict[str, Any]:
    """Average score, responses and requests over the last `days`, the spread of scores, and per
    agent (the conversation's assignee when it was resolved)."""
    since = m.utcnow() - timedelta(days=days)
    asked = (cv.tenant_id == tenant_id, cv.csat_requested_at >= since)
    requests = (await conn.execute(select(func.count()).where(*asked))).scalar_one()
    spread = {str(n): 0 for n in range(1, 6)}
    q = select(cv.csat_score, func.count()).where(*asked, cv.csat_score.is_not(None)).group_by(cv.csat_score)
    for score, n in await conn.execute(q):
        spread[str(score)] = n
    responses = sum(spread.values())
    total = sum(int(k) * v for k, v in spread.items())
    per_agent = (
        select(cv.assignee_id, ag.name, func.count(), func.sum(cv.csat_score))
        .join(m.agents, ag.id == cv.assignee_id)
        .where(*asked, cv.csat_score.is_not(None))
        .group_by(cv.assignee_id, ag.name)
        .order_by(ag.name)
    )
    agents = [
        {"agent_id": agent_id, "name": name, "responses": n, "average": _average(score_sum, n)}
        for agent_id, name, n, score_sum in await conn.execute(per_agent)
    ]
    return {
        "days": days,
        "requests": requests,
        "responses": responses,
        "average": _average(total, responses),
        "scores": spread,
        "agents": agents,
    }

"""Who may see what. One rule, used by the API (SQL filter and row check) and the websocket.

Supervisors and admins see all of their tenant. An agent sees conversations assigned to it and
unassigned ones in its queues (a conversation with no queue counts as in every queue).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, true

from inbox import models as m
from inbox.auth import Principal
from inbox.events import SUPERVISORS_ONLY

c = m.conversations.c


def conversation_filter(p: Principal) -> ColumnElement[bool]:
    """SQL condition (beyond the tenant) for conversations `p` may see."""
    if p.sees_all:
        return true()
    in_queue: ColumnElement[bool] = c.queue_id.is_(None)
    if p.queue_ids:
        in_queue = or_(in_queue, c.queue_id.in_(sorted(p.queue_ids)))
    return or_(c.assignee_id == p.agent_id, and_(c.assignee_id.is_(None), in_queue))


def may_see_conversation(p: Principal, assignee_id: Any, queue_id: Any) -> bool:
    if p.sees_all or assignee_id == p.agent_id:
        return True
    return assignee_id is None and (queue_id is None or queue_id in p.queue_ids)


def may_see_event(
    p: Principal, conversation_id: Any, assignee_id: Any, prev_assignee_id: Any, queue_id: Any
) -> bool:
    """Events about a conversation follow the conversation rule; the previous assignee of a
    transferred conversation gets that one update too, so its list drops it."""
    if queue_id == SUPERVISORS_ONLY:
        return p.sees_all
    if conversation_id is None:
        return True
    if prev_assignee_id is not None and prev_assignee_id == p.agent_id:
        return True
    return may_see_conversation(p, assignee_id, queue_id)

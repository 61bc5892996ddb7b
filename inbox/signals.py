"""Which tenants changed since the routing worker's last pass, in this process.

Actions that change load, waiting or presence call `routing_changed` after commit: the worker then
routes that tenant and refreshes its live queue figures. Other processes find the same work by polling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from inbox.runtime import Runtime

_dirty: WeakKeyDictionary[Runtime, set[int]] = WeakKeyDictionary()


def routing_changed(rt: Runtime, *tenant_ids: int) -> None:
    """Mark the tenants for the next routing pass and wake the worker (call after commit)."""
    _dirty.setdefault(rt, set()).update(tenant_ids)
    rt.wake("routing")


def drain(rt: Runtime) -> set[int]:
    """The tenants marked since the last call (and forget them)."""
    return _dirty.pop(rt, set())

"""PLACEHOLDER hub (in-process only) until the realtime issue lands: publish -> local listeners."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from inbox.events import EventRecord

if TYPE_CHECKING:
    from inbox.runtime import Runtime


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.listeners: list[Callable[[EventRecord], None]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def healthy(self) -> bool:
        return True

    async def publish(self, records: list[EventRecord]) -> None:
        for r in records:
            for fn in list(self.listeners):
                fn(r)

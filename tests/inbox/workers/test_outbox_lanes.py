"""The outbox's lanes: made when a call finds none free, up to the limit, then reused; every client
shares the process's TLS context (building one per client parsed the CA bundle each time and held
the event loop for seconds at every start: issue 17 item 4)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from inbox.tls import tls_context
from inbox.workers.outbox import Lanes


def _ssl_context_of(client: Any) -> Any:
    return client._transport._pool._ssl_context  # httpx -> httpcore's pool


async def test_lanes_are_made_on_demand_up_to_the_limit_and_share_one_tls_context() -> None:
    rt: Any = SimpleNamespace(settings=SimpleNamespace(send_timeout_seconds=5.0))
    lanes = Lanes(rt, 2)
    assert len(lanes) == 0  # nothing made at start
    try:
        async with lanes.lane() as first:
            pass
        async with lanes.lane() as again:
            assert again is first  # a free lane is reused, not a new one made
        assert len(lanes) == 1

        held = asyncio.Event()
        release = asyncio.Event()
        got: list[Any] = []

        async def call() -> None:
            async with lanes.lane() as client:
                got.append(client)
                if len(got) == 2:
                    held.set()
                await release.wait()

        tasks = [asyncio.create_task(call()) for _ in range(3)]
        await held.wait()
        assert len(lanes) == 2 and got[0] is not got[1]  # two at once: a second lane
        await asyncio.sleep(0)
        assert len(got) == 2  # the third waits for a free lane: never more than the limit
        release.set()
        await asyncio.gather(*tasks)
        assert len(lanes) == 2 and got[2] in got[:2]
        assert all(_ssl_context_of(c) is tls_context() for c in got)
    finally:
        await lanes.aclose()

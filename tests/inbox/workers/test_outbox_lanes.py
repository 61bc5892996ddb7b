"""The outbox's lanes: made when a call finds none free, up to the limit, then reused; every client
shares the process's TLS context (building one per client parsed the CA bundle each time and held
the event loop for seconds at every start: issue 17 item 4)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
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


def test_what_the_first_send_would_load_is_loaded_by_prepare_outgoing() -> None:
    """In a fresh interpreter: httpx leaves its transport (httpcore) and a first request's parts
    unimported until a client is made and used, which `prepare_outgoing` (run in a thread at start)
    does instead of the first send on the event loop."""
    script = (
        "import sys, httpx\n"
        "from inbox import tls\n"
        "lazy = [n for n in tls._LAZY_IMPORTS if n not in sys.modules]\n"
        "assert 'httpcore' in lazy, sorted(sys.modules)\n"
        "tls.prepare_outgoing()\n"
        "assert all(n in sys.modules for n in lazy), [n for n in lazy if n not in sys.modules]\n"
        "assert tls.tls_context.cache_info().currsize == 1\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

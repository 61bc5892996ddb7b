"""The reports' rollup: every few minutes, each tenant's hours that are over are folded into
`report_hours` (inbox/report_fold.py), so reports read hours instead of messages.

Owns the loop only; what a fold writes, and when an hour counts as over, is inbox/report_fold.py.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from inbox import report_fold
from inbox.waiting import wait_event

if TYPE_CHECKING:
    from inbox.runtime import Runtime

log = logging.getLogger(__name__)
FOLD_EVERY_SECONDS = 120.0


async def rollup_worker(rt: Runtime) -> None:
    wake = rt.wakeup("report-rollup")
    while True:
        try:
            await report_fold.fold_all(rt.engine)
        except Exception:
            log.exception("folding the reports' hours failed")
        wake.clear()
        await wait_event(wake, FOLD_EVERY_SECONDS)

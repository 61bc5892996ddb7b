"""Imports the modules that register background workers with `inbox.runtime.worker`."""

from __future__ import annotations

import bot.responder  # noqa: F401  (the `bot` job handler)
import inbox.jobs  # noqa: F401

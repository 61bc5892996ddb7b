"""Imports the modules that register background workers with `inbox.runtime.worker`."""

from __future__ import annotations

import inbox.jobs  # noqa: F401

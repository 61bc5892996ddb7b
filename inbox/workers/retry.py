"""The retry policy every worker that calls out shares: exponential backoff with jitter, where the other
side's `Retry-After` is a floor. Used by the outbox (provider sends) and the webhook deliveries.

Owns the shape of the delay only; how many attempts and what counts as retryable are the callers'.
"""

from __future__ import annotations

import random

RETRY_AFTER_CAP = 3600.0  # a server asking for more than an hour is not taken literally


def backoff(attempts: int, retry_after: float | None = None, *, base: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failure: `base * 2**(attempts-1)` capped at `cap`, with
    jitter (half to full of the step) so that the retries of many rows spread; `retry_after` (seconds
    the other side asked for) is a floor, itself capped at an hour."""
    step = min(cap, base * 2 ** max(0, attempts - 1))
    delay = step * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay

"""When to try a failed notification again (pure): exponential backoff with jitter."""

from __future__ import annotations

from datetime import datetime, timedelta


def next_attempt_at(attempt: int, now: datetime, *, initial: timedelta, maximum: timedelta,
                    jitter: float, retry_after: float | None = None) -> datetime:
    """``attempt`` is the number of tries so far (1 after the first failure).

    The delay doubles from ``initial`` up to ``maximum``; ``jitter`` in [0, 1) spreads it
    over its upper half so that many failed rows do not come back at the same instant; a
    ``retry_after`` from the remote (429) is a floor.
    """
    exponent = min(max(attempt - 1, 0), 32)
    delay: timedelta = min(initial * (2 ** exponent), maximum)
    delay = delay * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, timedelta(seconds=min(retry_after, 3600.0)))
    return now + delay

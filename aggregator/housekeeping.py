"""The background housekeeping loop of ``serve``: expiry and retention, batch by batch.

Each pass runs batches until one comes back short, so a backlog drains without any single
long transaction; a failing pass is logged and retried at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from aggregator.metrics import Metrics
from aggregator.settings import Settings
from aggregator.store import housekeeping
from aggregator.store.db import Database

log = logging.getLogger(__name__)


async def run_once(db: Database, settings: Settings, now: datetime,
                   metrics: Metrics | None = None) -> tuple[int, int]:
    """One pass: returns (alerts expired, rows deleted)."""
    size = settings.housekeeping_batch_size
    expired = deleted = 0
    if settings.expire_after > timedelta(0):
        while True:
            async with db.write() as session, session.begin():
                count = await housekeeping.expire_due(session, now, size)
            expired += count
            if count < size:
                break
    if settings.retention > timedelta(0):
        cutoff = now - settings.retention
        while True:
            async with db.write() as session, session.begin():
                count = await housekeeping.delete_before(session, cutoff, size)
            deleted += count
            if count < size:
                break
    if metrics is not None:
        metrics.housekeeping.labels("expired").inc(expired)
        metrics.housekeeping.labels("deleted").inc(deleted)
    if expired or deleted:
        log.info("housekeeping: %d alerts expired, %d old rows deleted", expired, deleted)
    return expired, deleted


async def run_forever(db: Database, settings: Settings, clock: Callable[[], datetime],
                      metrics: Metrics) -> None:
    while True:
        try:
            await run_once(db, settings, clock(), metrics)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("housekeeping pass failed; retrying in %s",
                          settings.housekeeping_interval)
        await asyncio.sleep(settings.housekeeping_interval.total_seconds())

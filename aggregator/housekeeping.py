"""The background housekeeping loop of ``serve``: expiry and retention, batch by batch.

Each pass runs batches until one comes back short, so a backlog drains without any single
long transaction; a failing pass is logged and retried at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.config.routing import NotificationSettings
from aggregator.config.service import Settings
from aggregator.metrics import Metrics
from aggregator.notice import Reason
from aggregator.pipeline.notify import Planner
from aggregator.store import housekeeping, outbox
from aggregator.store.alerts import alert_of, stored_of
from aggregator.store.db import Database

log = logging.getLogger(__name__)


Batch = Callable[[AsyncSession, datetime, int], Awaitable[int]]


async def _drain(db: Database, batch: Batch, moment: datetime, size: int) -> int:
    """Run ``batch`` in its own short transaction until one comes back short."""
    total = 0
    while True:
        async with db.write() as session, session.begin():
            count = await batch(session, moment, size)
        total += count
        if count < size:
            return total


async def _expire(notifications: NotificationSettings, session: AsyncSession, now: datetime,
                  size: int) -> int:
    """Expire one batch and write the resolves the channels that got the firing need."""
    rows = await housekeeping.expire_due(session, now, size)
    planner = Planner(notifications, [], now, f"expire-{uuid.uuid4().hex}")
    for row in rows:
        planner.resolved(alert_of(row), stored_of(row), Reason.EXPIRED)
    await outbox.add(session, planner.plan.notifications, now)
    return len(rows)


async def run_once(db: Database, settings: Settings, now: datetime,
                   metrics: Metrics | None = None) -> tuple[int, int]:
    """One pass: returns (alerts expired, rows deleted)."""
    size = settings.housekeeping_batch_size
    expired = deleted = 0
    if settings.expire_after > timedelta(0):
        expired = await _drain(db, partial(_expire, settings.notifications), now, size)
    if settings.retention > timedelta(0):
        deleted = await _drain(db, housekeeping.delete_before, now - settings.retention, size)
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

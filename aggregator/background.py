"""The periodic jobs of ``serve``, each a unit of work of the pipeline or the store: expiry
and retention (every ``housekeeping_interval``), and the release of alerts whose silence
ended (every ``delivery.poll_interval``, or at once when a silence changed).

Each pass runs batches until one comes back short, so a backlog drains without any single
long transaction; a failing pass is logged and retried at the next interval. The outbox
worker only delivers; what these jobs write, it sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aggregator.clock import Clock
from aggregator.config.service import Settings
from aggregator.metrics import Metrics
from aggregator.pipeline.expire import expire_batch
from aggregator.pipeline.unsilence import release_ended_silences
from aggregator.store import retention
from aggregator.store.db import Database

log = logging.getLogger(__name__)


async def _drain(batch: Callable[[], Awaitable[int]], size: int) -> int:
    """Run ``batch`` (one short transaction) until one comes back short."""
    total = 0
    while True:
        count = await batch()
        total += count
        if count < size:
            return total


async def _delete_batch(db: Database, cutoff: datetime, size: int) -> int:
    async with db.write() as session, session.begin():
        return await retention.delete_before(session, cutoff, size)


async def run_once(db: Database, settings: Settings, now: datetime,
                   metrics: Metrics | None = None) -> tuple[int, int]:
    """One housekeeping pass: returns (alerts expired, rows deleted)."""
    size = settings.housekeeping_batch_size
    expired = deleted = 0
    if settings.expire_after > timedelta(0):
        expired = await _drain(
            lambda: expire_batch(db, settings.notifications, now, size), size)
    if settings.retention > timedelta(0):
        cutoff = now - settings.retention
        deleted = await _drain(lambda: _delete_batch(db, cutoff, size), size)
    if metrics is not None:
        metrics.housekeeping.labels("expired").inc(expired)
        metrics.housekeeping.labels("deleted").inc(deleted)
    if expired or deleted:
        log.info("housekeeping: %d alerts expired, %d old rows deleted", expired, deleted)
    return expired, deleted


class Background:
    """Runs the jobs until cancelled. ``housekeeping`` off: only the silence release (the
    other copies of ``serve --processes N`` leave expiry and retention to the first)."""

    def __init__(self, db: Database, settings: Settings, metrics: Metrics, clock: Clock, *,
                 housekeeping: bool = True, wake: Callable[[], None] = lambda: None) -> None:
        self._db = db
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._housekeeping = housekeeping
        self._wake_worker = wake
        self._silences_changed = asyncio.Event()

    def silences_changed(self) -> None:
        """Look for alerts a silence no longer holds now, not at the next interval."""
        self._silences_changed.set()

    async def release_silences(self) -> int:
        """Trigger the alerts whose silence ended while they fire (a unit of work)."""
        released = await release_ended_silences(self._db, self._settings.notifications,
                                                self._clock())
        if released:
            log.info("%d alerts left their silence while firing", released)
            self._wake_worker()
        return released

    async def run_forever(self) -> None:
        poll = self._settings.delivery.poll_interval.total_seconds()
        every = self._settings.housekeeping_interval.total_seconds()
        housekeeping_at = -float("inf")
        while True:
            self._silences_changed.clear()
            if self._housekeeping and time.monotonic() - housekeeping_at >= every:
                housekeeping_at = time.monotonic()
                await self._guarded("housekeeping", run_once(
                    self._db, self._settings, self._clock(), self._metrics))
            await self._guarded("silence release", self.release_silences())
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the wait ends, and the loop would never stop.
                async with asyncio.timeout(poll):
                    await self._silences_changed.wait()

    async def _guarded(self, what: str, job: Awaitable[object]) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s pass failed; retrying at the next interval", what)

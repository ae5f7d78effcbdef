"""The outbox worker: claim due notifications, send them, record every attempt, reschedule.

Runs inside ``serve`` or alone as ``aggregator worker``; any number of workers may share
one PostgreSQL. Retries live only here: a failed send is rescheduled with backoff and
jitter until ``max_attempts`` or ``max_age``, then the row is ``dead`` (API and metrics
show it; ``POST /api/v1/notifications/{id}/retry`` revives it). It only delivers: what
to send is decided by the pipeline and the background jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from aggregator.channels.base import Channel, describe
from aggregator.config.service import DeliverySettings
from aggregator.delivery.backoff import next_attempt_at
from aggregator.errors import PermanentError, RetryableError
from aggregator.metrics import Metrics
from aggregator.notice import Action, AlertSnapshot, Notice, Reason
from aggregator.store import outbox
from aggregator.store.db import Database

log = logging.getLogger(__name__)

_GAUGE_EVERY = 5.0
RECORD_EVERY = 0.25  # seconds; finished sends wait at most this long to be recorded


class Worker:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        settings: DeliverySettings,
        metrics: Metrics,
        clock: Callable[[], datetime],
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.channels = channels
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.jitter = jitter
        self.grouped = frozenset(name for name, channel in channels.items() if channel.groups)
        self._wake = asyncio.Event()
        self._gauges_at = 0.0

    def wake(self) -> None:
        """Ask for a pass now (ingest calls this after writing notifications)."""
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            try:
                handled = await self.run_once()
                await self._update_gauges()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker pass failed; trying again shortly")
                handled = 0
            if handled == 0:
                self._wake.clear()
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the wait ends, and the worker would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_interval.total_seconds()):
                        await self._wake.wait()

    async def run_once(self) -> int:
        """Claim one batch and deliver it; the number of rows handled."""
        now = self.clock()
        async with self.db.write() as session, session.begin():
            claimed = await outbox.claim(session, now, self.settings.lease,
                                         self.settings.batch_size, self.grouped)
        if not claimed:
            return 0
        batches: dict[str, list[outbox.Claimed]] = {}
        for row in claimed:
            key = row.group_key if row.channel in self.grouped else f"id:{row.id}"
            batches.setdefault(key, []).append(row)
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def bounded(rows: list[outbox.Claimed]) -> list[tuple[outbox.Claimed,
                                                                    outbox.Outcome]]:
            async with limit:
                return await self._deliver(rows)

        tasks = [asyncio.ensure_future(bounded(rows)) for rows in batches.values()]
        try:
            # Sends that finished are recorded in one transaction at least every
            # RECORD_EVERY seconds, not after the slowest send of the batch: a crash then
            # re-sends (after the lease) only what finished in that last moment, which the
            # channels make harmless anyway (PagerDuty dedup_key).
            pending: set[asyncio.Future[list[tuple[outbox.Claimed, outbox.Outcome]]]] = \
                set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, timeout=RECORD_EVERY)
                if done:
                    await self._record([pair for task in done for pair in task.result()])
        finally:
            for task in tasks:
                task.cancel()  # only those still running: the pass failed or was cancelled
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(claimed)

    async def _record(self, outcomes: list[tuple[outbox.Claimed, outbox.Outcome]]) -> None:
        async with self.db.write() as session, session.begin():
            owned_rows = await outbox.finish_many(session, outcomes)
        for (row, outcome), owned in zip(outcomes, owned_rows, strict=True):
            self.metrics.notifications.labels(
                row.channel, outcome.status if owned else "lease_lost").inc()
            if outcome.status == outbox.DEAD and owned:
                log.warning("notification %d to %s is dead: %s", row.id, row.channel,
                            outcome.error)

    async def _deliver(
        self, rows: list[outbox.Claimed]
    ) -> list[tuple[outbox.Claimed, outbox.Outcome]]:
        """Send one notice; the outcome for each of its rows (recorded by the caller)."""
        first = rows[0]
        channel = self.channels.get(first.channel)
        started = self.clock()
        clock_started = time.perf_counter()
        error: str | None = None
        status_code: int | None = None
        retry_after: float | None = None
        permanent = False
        if channel is None:
            permanent, error = True, f"no channel named {first.channel!r} in the configuration"
        else:
            notice = Notice(
                channel=first.channel, action=Action(first.action), reason=Reason(first.reason),
                alerts=tuple(AlertSnapshot.model_validate(row.snapshot) for row in rows),
                created_at=first.created_at,
            )
            try:
                async with asyncio.timeout(channel.max_send_seconds + 1.0):
                    await channel.send(notice)
            except RetryableError as exc:
                error, status_code, retry_after = exc.message, exc.status_code, exc.retry_after
            except PermanentError as exc:
                permanent, error, status_code = True, exc.message, exc.status_code
            except TimeoutError:
                error = "send timed out"
            except Exception as exc:
                log.exception("channel %s failed unexpectedly", first.channel)
                error = f"{type(exc).__name__}: {describe(exc)}"
        elapsed = time.perf_counter() - clock_started
        finished = self.clock()
        self.metrics.attempt_seconds.labels(first.channel).observe(elapsed)
        return [(row, self._outcome(row, started, finished, error, status_code, retry_after,
                                    permanent)) for row in rows]

    def _outcome(self, row: outbox.Claimed, started: datetime, finished: datetime,
                 error: str | None, status_code: int | None, retry_after: float | None,
                 permanent: bool) -> outbox.Outcome:
        if error is None:
            return outbox.Outcome(outbox.SENT, started, finished, status_code=status_code)
        exhausted = (row.attempts >= self.settings.max_attempts
                     or finished - row.created_at >= self.settings.max_age)
        if permanent or exhausted:
            reason = error if permanent else f"gave up after {row.attempts} attempts: {error}"
            return outbox.Outcome(outbox.DEAD, started, finished, error=reason,
                                  status_code=status_code)
        retry_at = next_attempt_at(row.attempts, finished,
                                   initial=self.settings.backoff_initial,
                                   maximum=self.settings.backoff_max, jitter=self.jitter(),
                                   retry_after=retry_after)
        return outbox.Outcome(outbox.PENDING, started, finished, error=error,
                              status_code=status_code, next_attempt_at=retry_at)

    async def _update_gauges(self) -> None:
        if time.monotonic() - self._gauges_at < _GAUGE_EVERY:
            return
        self._gauges_at = time.monotonic()
        async with self.db.read() as session, session.begin():
            counts, oldest = await outbox.depth(session, self.clock())
        for status in (outbox.PENDING, outbox.SENT, outbox.DEAD):
            self.metrics.outbox.labels(status).set(counts.get(status, 0))
        self.metrics.outbox_oldest.set(oldest)

    async def aclose(self) -> None:
        for channel in self.channels.values():
            try:
                await channel.aclose()
            except Exception:
                log.exception("closing channel %s failed", channel.name)

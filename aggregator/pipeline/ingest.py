"""The ingest path in order: decode -> parse -> (group commit) -> identity -> lock -> load
state -> judge -> plan -> persist.

:class:`Ingest` is the one entry: a webhook handler authenticates, reads the body and
calls :meth:`Ingest.submit`; everything after is here. A body that can never be accepted
is kept in ``rejected_payloads`` and raised as :class:`~aggregator.errors.PayloadError`;
if even keeping it fails, the failure is transient (503), so the sender retries and
nothing disappears silently.

:func:`ingest_many` is the unit of work: the alert rows, their events and the outbox rows
they imply are committed together, so an answered 202 means the pages will go out.
Several requests can share that transaction (the group commit): their alerts are judged in
arrival order, as if sent one after the other, and each request keeps its own counts and
its own mail group.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.config.routing import NotificationSettings
from aggregator.config.service import Settings
from aggregator.errors import PayloadError, TransientError, WriteConflictError
from aggregator.metrics import Metrics
from aggregator.model import Alert, Source, Status
from aggregator.pipeline.decode import decode, storable_value
from aggregator.pipeline.dedup import Decision, Verdict, judge
from aggregator.pipeline.group_commit import GroupCommit
from aggregator.pipeline.identity import Keyed, keyed
from aggregator.pipeline.persist import persist
from aggregator.pipeline.plan import Planner
from aggregator.sources import SOURCES, SourceSpec
from aggregator.store import rejected, silences, states
from aggregator.store.db import Database
from aggregator.store.tables import RejectedPayloadRow

log = logging.getLogger(__name__)

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """The normalized alerts of one webhook request."""

    alerts: list[Alert]
    received_at: datetime
    truncated: int = 0


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one request did; the webhook answers with :meth:`counts`."""

    decisions: tuple[Decision, ...]
    truncated: int = 0
    notifications: int = 0

    def counts(self) -> dict[str, int]:
        verdicts = Counter(decision.verdict for decision in self.decisions)
        # A resolve that arrives before its firing creates a row, but is counted as resolved.
        resolved_first = sum(
            1 for d in self.decisions
            if d.verdict is Verdict.NEW and d.target.status is Status.RESOLVED
        )
        return {
            "received": len(self.decisions),
            "new": verdicts[Verdict.NEW] - resolved_first,
            "repeats": verdicts[Verdict.REPEAT] + verdicts[Verdict.CHANGED],
            "resolved": verdicts[Verdict.RESOLVED] + resolved_first,
            "stale": verdicts[Verdict.STALE],
            "truncated": self.truncated,
        }


def may_be_one_request(exc: BaseException) -> bool:
    """Whether a failed shared transaction may have failed for one request's content (a
    value the database refused, a constraint, a bug on an odd payload) rather than because
    the database is out of reach: then each request is worth a transaction of its own."""
    return isinstance(exc, WriteConflictError) or not isinstance(exc, TransientError)


def _needs_silences(decisions: list[Decision], settings: NotificationSettings) -> bool:
    """Silences matter only when something may notify: most requests are plain repeats."""
    repeats_notify = any(route.repeat_interval for route in
                         (*settings.routes, settings.default_route))
    return any(
        d.verdict in (Verdict.NEW, Verdict.CHANGED)
        or (repeats_notify and d.verdict is Verdict.REPEAT)
        for d in decisions
    )


async def _paired_resolves(session: AsyncSession,
                           parts: list[list[Keyed]]) -> list[list[Keyed]]:
    """Resolves named by the episode id of an open alert whose fingerprint differs take that
    fingerprint: a source may leave out of its resolve what its firing carried and the
    identity hashes (an Azure ``Resolved`` without ``alertTargetIDs``), and the same episode
    id is the same alert."""
    wanted = sorted({(item.alert.source.value, item.alert.source_ref)
                     for part in parts for item in part if item.alert.status is Status.RESOLVED})
    if not wanted:
        return parts
    open_by_ref = await states.open_fingerprints(session, wanted)
    if not open_by_ref:
        return parts

    def paired(item: Keyed) -> Keyed:
        if item.alert.status is not Status.RESOLVED:
            return item
        found = open_by_ref.get((item.alert.source.value, item.alert.source_ref))
        return item if found is None or found == item.fingerprint else Keyed(item.alert, found)

    return [[paired(item) for item in part] for part in parts]


async def ingest(
    sessions: Sessions,
    alerts: list[Alert],
    *,
    received_at: datetime,
    repeat_event_interval: timedelta,
    expire_after: timedelta,
    notifications: NotificationSettings | None = None,
    truncated: int = 0,
) -> IngestResult:
    """Store what the alerts mean and the notifications they imply; returns after commit."""
    [result] = await ingest_many(
        sessions, [IngestRequest(alerts, received_at, truncated)],
        repeat_event_interval=repeat_event_interval, expire_after=expire_after,
        notifications=notifications,
    )
    return result


async def ingest_many(
    sessions: Sessions,
    requests: Sequence[IngestRequest],
    *,
    repeat_event_interval: timedelta,
    expire_after: timedelta,
    notifications: NotificationSettings | None = None,
) -> list[IngestResult]:
    """:func:`ingest` for several requests in one transaction, one result per request.

    The requests' alerts are judged in the given order; times recorded are the latest
    request's ``received_at`` (the requests of one batch arrived milliseconds apart).
    """
    if not requests:
        return []
    received_at = max(request.received_at for request in requests)
    parts = [keyed(request.alerts) for request in requests]
    settings = notifications or NotificationSettings()
    async with sessions() as session, session.begin():
        parts = await _paired_resolves(session, parts)
        items = [item for part in parts for item in part]
        await states.lock_fingerprints(session, [item.fingerprint for item in items])
        found = await states.load_states(
            session, [(item.fingerprint, item.alert.source_ref) for item in items]
        )
        decisions = judge(items, found)
        active = (await silences.active(session, received_at)
                  if _needs_silences(decisions, settings) else [])
        planner = Planner(settings, active, received_at, "")
        per_request: list[tuple[list[Decision], int]] = []
        start = 0
        for part in parts:
            mine = decisions[start:start + len(part)]
            start += len(part)
            before = len(planner.plan.notifications)
            planner.decisions(mine, group=uuid.uuid4().hex)  # one mail group per request
            per_request.append((mine, len(planner.plan.notifications) - before))
        await persist(session, decisions, planner.plan, received_at=received_at,
                      repeat_event_interval=repeat_event_interval, expire_after=expire_after)
    return [IngestResult(tuple(mine), request.truncated, written)
            for request, (mine, written) in zip(requests, per_request, strict=True)]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook request as the HTTP edge read it (headers already stripped of secrets)."""

    source: Source
    body: bytes
    media_type: str  # what decides how the body is read; "" when it sent no Content-Type
    received_at: datetime
    content_type: str = ""  # the header as sent, kept with a refused body
    #: the request's headers, secrets stripped (read only when the body is kept)
    headers: Callable[[], Mapping[str, str]] = dict
    remote: str = ""
    body_size: int | None = None  # when ``body`` is a cut-off part of what was sent


class Ingest:
    """Decode, parse, and store webhook deliveries through the group commit."""

    def __init__(self, db: Database, settings: Settings, metrics: Metrics, *,
                 wake: Callable[[], None] = lambda: None,
                 sources: Mapping[Source, SourceSpec] = SOURCES) -> None:
        self._db = db
        self._settings = settings
        self._metrics = metrics
        self._wake = wake
        self._sources = sources
        self._queue: GroupCommit[IngestRequest, IngestResult] = GroupCommit(
            self._run, size=lambda request: len(request.alerts), alone=may_be_one_request,
            writers=1 if settings.is_sqlite else settings.ingest_writers,
            max_alerts=settings.ingest_batch_alerts, max_queued=settings.ingest_queue_alerts,
            on_batch=metrics.ingest_batch.observe,
        )

    async def _run(self, requests: Sequence[IngestRequest]) -> list[IngestResult]:
        return await ingest_many(
            self._db.write, requests,
            repeat_event_interval=self._settings.repeat_event_interval,
            expire_after=self._settings.expire_after,
            notifications=self._settings.notifications,
        )

    async def submit(self, delivery: Delivery) -> IngestResult:
        """Store one delivery; returns after its commit. Raises :class:`PayloadError` (kept
        first) for a body that can never be accepted, :class:`TransientError` otherwise."""
        source = delivery.source
        try:
            payload = decode(delivery.body, delivery.media_type)
            try:
                parsed = self._sources[source].parse(
                    payload, received_at=delivery.received_at,
                    default_severity=self._settings.default_severity)
            except RecursionError as exc:
                raise PayloadError("payload nested too deeply") from exc
            result = await self._queue.submit(
                IngestRequest(parsed.alerts, delivery.received_at, parsed.truncated))
        except PayloadError as exc:
            await self.refuse(delivery, exc)
            raise
        if result.notifications:
            self._wake()
        for decision in result.decisions:
            self._metrics.alerts.labels(source.value, decision.verdict.value).inc()
        if result.truncated:
            self._metrics.truncated.inc(result.truncated)
        return result

    async def refuse(self, delivery: Delivery, error: PayloadError) -> None:
        """Keep a refused body for inspection (``GET /api/v1/rejected``)."""
        source = delivery.source.value
        self._metrics.rejected.labels(source, str(error.status)).inc()
        log.info("rejected %s payload (%d): %s", source, error.status, error.message)
        row = RejectedPayloadRow(
            received_at=delivery.received_at, source=source, status_code=error.status,
            reason=storable_value(error.message[:4000]), field=storable_value(error.field),
            content_type=delivery.content_type[:256], remote=delivery.remote[:256],
            headers=dict(delivery.headers()), body=delivery.body,
            body_size=len(delivery.body) if delivery.body_size is None else delivery.body_size,
        )
        async with self._db.write() as session, session.begin():
            await rejected.add(session, row)

    async def aclose(self) -> None:
        """Refuse new deliveries; what was accepted for commit is committed."""
        await self._queue.aclose()

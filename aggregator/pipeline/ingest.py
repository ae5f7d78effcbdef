"""The ingest path in order: identity -> lock -> load state -> judge -> plan -> persist.

All in one transaction: the alert rows, their events and the outbox rows they imply are
committed together, so an answered 202 means the pages will go out. Several requests can
share that transaction (:func:`ingest_many`, fed by the group commit): their alerts are
judged in arrival order, as if sent one after the other, and each request keeps its own
counts and its own mail group.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aggregator.config.routing import NotificationSettings
from aggregator.model import Alert, Status
from aggregator.pipeline.dedup import Decision, Verdict, judge
from aggregator.pipeline.identity import keyed
from aggregator.pipeline.notify import Planner
from aggregator.store import alerts as alert_store
from aggregator.store import outbox, silences


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
    if isinstance(exc, (DataError, IntegrityError)):
        return True
    return not isinstance(exc, (SQLAlchemyError, OSError, TimeoutError, ConnectionError))


def _needs_silences(decisions: list[Decision], settings: NotificationSettings) -> bool:
    """Silences matter only when something may notify: most requests are plain repeats."""
    repeats_notify = any(route.repeat_interval for route in
                         (*settings.routes, settings.default_route))
    return any(
        d.verdict in (Verdict.NEW, Verdict.CHANGED)
        or (repeats_notify and d.verdict is Verdict.REPEAT)
        for d in decisions
    )


async def ingest(
    sessions: async_sessionmaker[AsyncSession],
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
    sessions: async_sessionmaker[AsyncSession],
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
    items = [item for part in parts for item in part]
    settings = notifications or NotificationSettings()
    async with sessions() as session, session.begin():
        await alert_store.lock_fingerprints(session, [item.fingerprint for item in items])
        states = await alert_store.load_states(
            session, [(item.fingerprint, item.alert.source_ref) for item in items]
        )
        decisions = judge(items, states)
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
        plan = planner.plan
        await alert_store.apply(
            session, decisions, received_at=received_at,
            repeat_event_interval=repeat_event_interval, expire_after=expire_after, plan=plan,
        )
        await outbox.add(session, plan.notifications, received_at)
    return [IngestResult(tuple(mine), request.truncated, written)
            for request, (mine, written) in zip(requests, per_request, strict=True)]

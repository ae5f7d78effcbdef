"""The persist stage: what the dedup decisions and the notification plan mean as writes.

Turns them into a few repository calls with neutral inputs (``store/records.py``), in one
transaction owned by the caller: new episodes, the planner's marks (``notified``,
``silenced_by``) on existing rows, resolves and content changes, occurrence counters,
history events, coalesced repeat events, and the outbox rows.

A delivery of an alert that never auto-resolves pushes its ``expires_at`` forward.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.model import Status
from aggregator.pipeline.dedup import Decision, Verdict
from aggregator.pipeline.plan import Plan
from aggregator.store import alerts, outbox
from aggregator.store.records import ContentChange, NewEpisode, NewEvent, Resolution


def _delivery_detail(decision: Decision) -> dict[str, Any]:
    alert = decision.keyed.alert
    return {
        "source_ref": alert.source_ref,
        "status": alert.status.value,
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
    }


def _expires_at(decision: Decision, received_at: datetime,
                expire_after: timedelta) -> datetime | None:
    if decision.keyed.alert.auto_resolves or expire_after <= timedelta(0):
        return None
    return received_at + expire_after


class _Writes:
    """The writes of one transaction, gathered decision by decision."""

    def __init__(self, received_at: datetime, expire_after: timedelta) -> None:
        self.received_at = received_at
        self.expire_after = expire_after
        self.episodes: dict[uuid.UUID, NewEpisode] = {}
        self.events: list[NewEvent] = []
        self.bumps: Counter[uuid.UUID] = Counter()
        self.repeats: Counter[uuid.UUID] = Counter()
        self.final: dict[uuid.UUID, Decision] = {}

    def event(self, alert_id: uuid.UUID, kind: str, detail: dict[str, Any]) -> None:
        self.events.append(NewEvent(alert_id, kind, self.received_at, detail))

    def add(self, decision: Decision) -> None:
        target = decision.target
        if decision.verdict is Verdict.NEW:
            self.episodes[target.id] = NewEpisode(
                id=target.id, fingerprint=decision.keyed.fingerprint,
                alert=decision.keyed.alert, status=target.status, ends_at=target.ends_at,
                received_at=self.received_at,
                expires_at=_expires_at(decision, self.received_at, self.expire_after))
            kind = "opened" if target.status is Status.FIRING else "resolved"
            self.event(target.id, kind, {**_delivery_detail(decision), "first_delivery": True})
            return
        if decision.verdict is Verdict.STALE:
            self.event(target.id, "stale", _delivery_detail(decision))
            return
        episode = self.episodes.get(target.id)
        if episode is not None:
            # A later copy in the same transaction of an episode it created.
            episode.occurrences += 1
            episode.status = target.status
            episode.ends_at = target.ends_at
        else:
            self.bumps[target.id] += 1
        if decision.verdict in (Verdict.RESOLVED, Verdict.CHANGED):
            self.final[target.id] = decision
            detail = _delivery_detail(decision)
            if decision.changes:
                detail["changes"] = {k: list(v) for k, v in decision.changes.items()}
            self.event(target.id, decision.verdict.value, detail)
        else:
            self.repeats[target.id] += 1


async def persist(
    session: AsyncSession,
    decisions: Sequence[Decision],
    plan: Plan,
    *,
    received_at: datetime,
    repeat_event_interval: timedelta,
    expire_after: timedelta,
) -> None:
    """Write what ``decisions`` and ``plan`` say, in the caller's transaction."""
    writes = _Writes(received_at, expire_after)
    for decision in decisions:
        writes.add(decision)
    for episode in writes.episodes.values():
        episode.notified = plan.notified.get(episode.id, {})
        episode.silenced_by = plan.silenced.get(episode.id)
    await alerts.insert_episodes(session, list(writes.episodes.values()))
    await save_marks(session, plan, exclude=writes.episodes.keys())
    later = {alert_id: d for alert_id, d in writes.final.items()
             if alert_id not in writes.episodes}
    await alerts.resolve(session, [
        Resolution(alert_id, d.target.ends_at) for alert_id, d in later.items()
        if d.verdict is Verdict.RESOLVED])
    await alerts.change(session, [
        ContentChange(alert_id, d.target.status, d.keyed.alert) for alert_id, d in later.items()
        if d.verdict is Verdict.CHANGED])
    await alerts.bump(session, writes.bumps, received_at, received_at + expire_after)
    await alerts.add_events(session, writes.events)
    if writes.repeats:
        await alerts.add_repeats(session, writes.repeats, received_at, repeat_event_interval)
    await outbox.add(session, plan.notifications, received_at)


async def save_plan(session: AsyncSession, plan: Plan, now: datetime) -> int:
    """A plan made outside ingest (ack, silence release, expiry): its marks on existing
    rows and its outbox rows. Returns how many notifications were written."""
    await save_marks(session, plan)
    return await outbox.add(session, plan.notifications, now)


async def save_marks(session: AsyncSession, plan: Plan,
                     exclude: Collection[uuid.UUID] = ()) -> None:
    """The ``notified`` / ``silenced_by`` changes a plan made to rows not in ``exclude``
    (rows inserted with their marks already)."""
    await alerts.mark(
        session,
        {k: v for k, v in plan.notified.items() if k not in exclude},
        {k: v for k, v in plan.silenced.items() if k not in exclude},
    )

"""Alerts whose silence ended while they still fire: notify them now (one unit of work)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select

from aggregator.config.routing import NotificationSettings
from aggregator.model import Status
from aggregator.notice import Reason
from aggregator.pipeline.notify import Planner
from aggregator.store import alerts as alert_store
from aggregator.store import outbox, silences
from aggregator.store.db import Database
from aggregator.store.tables import AlertRow, SilenceRow


def _ended(now: datetime) -> ColumnElement[bool]:
    still = exists().where(SilenceRow.id == AlertRow.silenced_by, SilenceRow.starts_at <= now,
                           SilenceRow.ends_at > now)
    return (AlertRow.status == Status.FIRING.value) & AlertRow.silenced_by.is_not(None) & ~still


async def release_ended_silences(db: Database, settings: NotificationSettings, now: datetime,
                                 limit: int = 200) -> int:
    """Clear ``silenced_by`` of firing alerts whose silence is over and trigger their routes
    (unless acknowledged, or another silence now holds them). Returns how many were freed."""
    async with db.write() as session, session.begin():
        candidates = (await session.execute(
            select(AlertRow.id, AlertRow.fingerprint).where(_ended(now)).limit(limit)
        )).all()
        if not candidates:
            return 0
        await alert_store.lock_fingerprints(session, [c.fingerprint for c in candidates])
        rows = (await session.scalars(
            select(AlertRow).where(AlertRow.id.in_([c.id for c in candidates]), _ended(now))
        )).all()
        if not rows:
            return 0
        planner = Planner(settings, await silences.active(session, now), now,
                          f"unsilence-{uuid.uuid4().hex}")
        for row in rows:
            planner.firing(alert_store.alert_of(row), alert_store.stored_of(row),
                           Reason.SILENCE_ENDED, acknowledged=row.acknowledged_at is not None)
            # Still silenced by another silence: keep it held; otherwise it is free now.
            planner.plan.silenced.setdefault(row.id, None)
        await alert_store.save_plan(session, planner.plan)
        await outbox.add(session, planner.plan.notifications, now)
        return len(rows)

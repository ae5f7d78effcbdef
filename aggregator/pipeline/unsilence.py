"""Alerts whose silence ended while they still fire: notify them now (one unit of work)."""

from __future__ import annotations

import uuid
from datetime import datetime

from aggregator.config.routing import NotificationSettings
from aggregator.notice import Reason
from aggregator.pipeline.persist import save_plan
from aggregator.pipeline.plan import Planner
from aggregator.store import silences, states
from aggregator.store.db import Database


async def release_ended_silences(db: Database, settings: NotificationSettings, now: datetime,
                                 limit: int = 200) -> int:
    """Clear ``silenced_by`` of firing alerts whose silence is over and trigger their routes
    (unless acknowledged, or another silence now holds them). Returns how many were freed."""
    async with db.write() as session, session.begin():
        candidates = await silences.released_candidates(session, now, limit)
        if not candidates:
            return 0
        await states.lock_fingerprints(session, list(candidates.values()))
        rows = await silences.released(session, list(candidates), now)
        if not rows:
            return 0
        planner = Planner(settings, await silences.active(session, now), now,
                          f"unsilence-{uuid.uuid4().hex}")
        for row in rows:
            planner.firing(states.alert_of(row), states.stored_of(row),
                           Reason.SILENCE_ENDED, acknowledged=row.acknowledged_at is not None)
            # Still silenced by another silence: keep it held; otherwise it is free now.
            planner.plan.silenced.setdefault(row.id, None)
        await save_plan(session, planner.plan, now)
        return len(rows)

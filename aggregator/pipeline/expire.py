"""Expiry (one unit of work per batch): alerts whose source never resolves them resolve as
``expired`` after ``expire_after`` without a delivery, with the resolves the channels that
got the firing need."""

from __future__ import annotations

import uuid
from datetime import datetime

from aggregator.config.routing import NotificationSettings
from aggregator.notice import Reason
from aggregator.pipeline.persist import save_plan
from aggregator.pipeline.plan import Planner
from aggregator.store import alerts, states
from aggregator.store.db import Database


async def expire_batch(db: Database, notifications: NotificationSettings, now: datetime,
                       size: int) -> int:
    """Expire up to ``size`` due alerts in one transaction; how many it expired."""
    async with db.write() as session, session.begin():
        rows = await alerts.expire_due(session, now, size)
        planner = Planner(notifications, [], now, f"expire-{uuid.uuid4().hex}")
        for row in rows:
            planner.resolved(states.alert_of(row), states.stored_of(row), Reason.EXPIRED)
        await save_plan(session, planner.plan, now)
    return len(rows)

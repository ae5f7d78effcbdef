"""Acknowledge and unacknowledge an alert (one unit of work each).

An ack is recorded (who, comment) as an event, stops repeats, and is pushed to every
channel that got the firing and understands acknowledgements. Acknowledging twice changes
nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from aggregator.config.routing import NotificationSettings
from aggregator.errors import ConflictError, NotFoundError
from aggregator.model import Status
from aggregator.pipeline.persist import save_plan
from aggregator.pipeline.plan import Planner
from aggregator.store import alerts, states
from aggregator.store.db import Database
from aggregator.store.records import NewEvent
from aggregator.store.tables import AlertRow


async def set_acknowledged(db: Database, settings: NotificationSettings, alert_id: uuid.UUID,
                           *, by: str, comment: str, now: datetime,
                           acknowledged: bool) -> tuple[AlertRow, int]:
    """Returns the alert as it is now and how many notifications were written."""
    async with db.write() as session, session.begin():
        row = await session.get(AlertRow, alert_id)
        if row is None:
            raise NotFoundError(f"no alert with id {alert_id}")
        await states.lock_fingerprints(session, [row.fingerprint])
        await session.refresh(row)
        if row.status != Status.FIRING.value:
            raise ConflictError(f"alert {alert_id} is {row.status}; only a firing alert can be "
                                f"{'acknowledged' if acknowledged else 'unacknowledged'}")
        if (row.acknowledged_at is not None) == acknowledged:
            return row, 0
        written = 0
        if acknowledged:
            planner = Planner(settings, [], now, f"ack-{uuid.uuid4().hex}")
            planner.acknowledged(states.alert_of(row), states.stored_of(row), by,
                                 comment or None)
            written = await save_plan(session, planner.plan, now)
        await alerts.set_acknowledgement(session, alert_id, by if acknowledged else None, now)
        await alerts.add_events(session, [NewEvent(
            alert_id, "acknowledged" if acknowledged else "unacknowledged", now,
            {"by": by, "comment": comment})])
        await session.refresh(row)
        return row, written

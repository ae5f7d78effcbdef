"""Acknowledge and unacknowledge an alert (one unit of work each).

An ack is recorded (who, comment) as an event, stops repeats, and is pushed to every
PagerDuty channel that got the firing. Acknowledging twice changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, update

from aggregator.config.routing import NotificationSettings
from aggregator.errors import ConflictError, NotFoundError
from aggregator.model import Status
from aggregator.pipeline.notify import Planner
from aggregator.store import alerts as alert_store
from aggregator.store import outbox
from aggregator.store.db import Database
from aggregator.store.tables import AlertEventRow, AlertRow


async def set_acknowledged(db: Database, settings: NotificationSettings, alert_id: uuid.UUID,
                           *, by: str, comment: str, now: datetime,
                           acknowledged: bool) -> tuple[AlertRow, int]:
    """Returns the alert as it is now and how many notifications were written."""
    async with db.write() as session, session.begin():
        row = await session.get(AlertRow, alert_id)
        if row is None:
            raise NotFoundError(f"no alert with id {alert_id}")
        await alert_store.lock_fingerprints(session, [row.fingerprint])
        await session.refresh(row)
        if row.status != Status.FIRING.value:
            raise ConflictError(f"alert {alert_id} is {row.status}; only a firing alert can be "
                                f"{'acknowledged' if acknowledged else 'unacknowledged'}")
        if (row.acknowledged_at is not None) == acknowledged:
            return row, 0
        written = 0
        if acknowledged:
            values = {"acknowledged_at": now, "acknowledged_by": by}
            planner = Planner(settings, [], now, f"ack-{uuid.uuid4().hex}")
            planner.acknowledged(alert_store.alert_of(row), alert_store.stored_of(row), by,
                                 comment or None)
            written = await outbox.add(session, planner.plan.notifications, now)
        else:
            values = {"acknowledged_at": None, "acknowledged_by": None}
        await session.execute(update(AlertRow).where(AlertRow.id == alert_id).values(**values))
        await session.execute(insert(AlertEventRow).values(
            alert_id=alert_id, kind="acknowledged" if acknowledged else "unacknowledged",
            at=now, count=1, bucket=None, detail={"by": by, "comment": comment},
        ))
        await session.refresh(row)
        return row, written

"""Retention: deleting old history (resolved alerts with their events, refused bodies).

In bounded batches (short transactions, no long locks while ingest runs), safe to run from
several replicas at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.model import Status
from aggregator.store.tables import AlertEventRow, AlertRow, RejectedPayloadRow


async def delete_before(session: AsyncSession, cutoff: datetime, batch_size: int) -> int:
    """Delete one batch of alerts resolved before ``cutoff`` (events cascade) and rejected
    payloads received before it; returns how many rows of either kind went."""
    alert_ids = (await session.scalars(
        select(AlertRow.id)
        .where(AlertRow.status == Status.RESOLVED.value, AlertRow.ends_at < cutoff)
        .limit(batch_size)
    )).all()
    deleted = 0
    if alert_ids:
        await session.execute(delete(AlertEventRow).where(AlertEventRow.alert_id.in_(alert_ids)))
        await session.execute(delete(AlertRow).where(AlertRow.id.in_(alert_ids)))
        deleted += len(alert_ids)
    rejected_ids = (await session.scalars(
        select(RejectedPayloadRow.id).where(RejectedPayloadRow.received_at < cutoff)
        .limit(batch_size)
    )).all()
    if rejected_ids:
        await session.execute(
            delete(RejectedPayloadRow).where(RejectedPayloadRow.id.in_(rejected_ids)))
        deleted += len(rejected_ids)
    return deleted

"""Housekeeping writes: expiring alerts whose source never resolves them, deleting old history.

Both work in bounded batches (short transactions, no long locks while ingest runs) and
are safe to run from several replicas at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.model import Status
from aggregator.store.alerts import lock_fingerprints
from aggregator.store.tables import AlertEventRow, AlertRow, RejectedPayloadRow


async def expire_due(session: AsyncSession, now: datetime, batch_size: int) -> list[AlertRow]:
    """Resolve up to ``batch_size`` firing alerts whose ``expires_at`` passed, as ``expired``;
    returns the rows it resolved (as they are now)."""
    due = (await session.execute(
        select(AlertRow.id, AlertRow.fingerprint, AlertRow.expires_at)
        .where(AlertRow.status == Status.FIRING.value, AlertRow.expires_at < now)
        .order_by(AlertRow.expires_at)
        .limit(batch_size)
    )).all()
    if not due:
        return []
    await lock_fingerprints(session, [row.fingerprint for row in due])
    expired = (await session.execute(
        update(AlertRow)
        .where(AlertRow.id.in_([row.id for row in due]),
               AlertRow.status == Status.FIRING.value, AlertRow.expires_at < now)
        .values(status=Status.RESOLVED.value, ends_at=AlertRow.expires_at,
                resolved_reason="expired")
        .returning(AlertRow.id, AlertRow.expires_at)
    )).all()
    if expired:
        await session.execute(insert(AlertEventRow), [
            {"alert_id": row.id, "kind": "expired", "at": now, "count": 1, "bucket": None,
             "detail": {"ends_at": row.expires_at.isoformat(),
                        "reason": "no delivery before expires_at; the source never resolves"}}
            for row in expired
        ])
    return list((await session.scalars(
        select(AlertRow).where(AlertRow.id.in_([row.id for row in expired]))
        .execution_options(populate_existing=True))).all())


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

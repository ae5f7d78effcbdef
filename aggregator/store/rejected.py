"""Refused webhook bodies: kept for inspection (``GET /api/v1/rejected``), newest first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.store.tables import RejectedPayloadRow


async def listing(
    session: AsyncSession, after_id: int | None, limit: int, source: str | None = None
) -> list[RejectedPayloadRow]:
    statement = select(RejectedPayloadRow)
    if after_id is not None:
        statement = statement.where(RejectedPayloadRow.id < after_id)
    if source:
        statement = statement.where(RejectedPayloadRow.source == source)
    statement = statement.order_by(RejectedPayloadRow.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())


async def add(session: AsyncSession, row: RejectedPayloadRow) -> None:
    session.add(row)
    await session.flush()

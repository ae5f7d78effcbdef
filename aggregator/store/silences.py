"""Silence rows: create, list, end; the active ones as (id, Match) for the planner."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.notification_settings import Match
from aggregator.store.tables import SilenceRow


def match_of(row: SilenceRow) -> Match:
    return Match.model_validate(row.matchers)


async def active(session: AsyncSession, now: datetime) -> list[tuple[uuid.UUID, Match]]:
    rows = (await session.scalars(
        select(SilenceRow).where(SilenceRow.starts_at <= now, SilenceRow.ends_at > now)
        .order_by(SilenceRow.created_at)
    )).all()
    return [(row.id, match_of(row)) for row in rows]


async def create(session: AsyncSession, row: SilenceRow) -> SilenceRow:
    session.add(row)
    await session.flush()
    return row


async def listing(session: AsyncSession, now: datetime, state: str | None,
                  limit: int) -> list[SilenceRow]:
    statement = select(SilenceRow)
    if state == "active":
        statement = statement.where(SilenceRow.starts_at <= now, SilenceRow.ends_at > now)
    elif state == "pending":
        statement = statement.where(SilenceRow.starts_at > now)
    elif state == "expired":
        statement = statement.where(SilenceRow.ends_at <= now)
    return list((await session.scalars(
        statement.order_by(SilenceRow.created_at.desc()).limit(limit))).all())


async def end(session: AsyncSession, silence_id: uuid.UUID, now: datetime) -> SilenceRow | None:
    """End a silence now (kept for history); None when there is no such silence."""
    row = await session.get(SilenceRow, silence_id)
    if row is None:
        return None
    if row.ends_at > now:
        await session.execute(update(SilenceRow).where(SilenceRow.id == silence_id)
                              .values(ends_at=max(now, row.starts_at)))
        await session.refresh(row)
    return row

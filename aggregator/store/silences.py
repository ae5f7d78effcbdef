"""Silence rows: create, list, end; the active ones as (id, Match) for the planner."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.config.routing import Match
from aggregator.model import Status
from aggregator.store.tables import AlertRow, SilenceRow, table_of
from aggregator.store.types import UtcDateTime


def match_of(row: SilenceRow) -> Match:
    return Match.model_validate(row.matchers)


@functools.cache
def _active() -> Any:
    table = table_of(SilenceRow)
    now = bindparam("now", type_=UtcDateTime())
    return (select(table.c.id, table.c.matchers)
            .where(table.c.starts_at <= now, table.c.ends_at > now)
            .order_by(table.c.created_at))


async def active(session: AsyncSession, now: datetime) -> list[tuple[uuid.UUID, Match]]:
    """The silences in force at ``now``, oldest first (a statement built once: ingest asks
    whenever a request may notify)."""
    connection = await session.connection()
    rows = await connection.execute(_active(), {"now": now})
    return [(row.id, Match.model_validate(row.matchers)) for row in rows]


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


def _ended(now: datetime) -> ColumnElement[bool]:
    still = exists().where(SilenceRow.id == AlertRow.silenced_by, SilenceRow.starts_at <= now,
                           SilenceRow.ends_at > now)
    return (AlertRow.status == Status.FIRING.value) & AlertRow.silenced_by.is_not(None) & ~still


async def released_candidates(session: AsyncSession, now: datetime,
                              limit: int) -> dict[uuid.UUID, str]:
    """Firing alerts held by a silence that no longer holds (``id -> fingerprint``)."""
    rows = await session.execute(
        select(AlertRow.id, AlertRow.fingerprint).where(_ended(now)).limit(limit))
    return {row.id: row.fingerprint for row in rows}


async def released(session: AsyncSession, ids: list[uuid.UUID],
                   now: datetime) -> list[AlertRow]:
    """Those of ``ids`` still released (read again once their fingerprints are locked)."""
    return list((await session.scalars(
        select(AlertRow).where(AlertRow.id.in_(ids), _ended(now)))).all())

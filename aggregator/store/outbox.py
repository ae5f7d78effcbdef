"""The outbox tables: writing planned notifications, claiming due ones, recording attempts.

Claims are safe with many workers: PostgreSQL uses ``FOR UPDATE SKIP LOCKED``; SQLite
serializes writers with ``BEGIN IMMEDIATE`` (see ``store/db.py``). A claim sets a lease
and a claim token; a worker that dies leaves the row to be claimed again when the lease
ends, and a worker whose lease was taken over cannot overwrite the new owner's result.
Notifications of one alert on one channel go out in order: a row is not claimable while
an older row of the same fingerprint and channel is still pending.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from aggregator.notice import Planned
from aggregator.store.db import dialect_of
from aggregator.store.tables import NotificationAttemptRow, NotificationRow, table_of
from aggregator.store.types import UtcDateTime

PENDING, SENT, DEAD = "pending", "sent", "dead"


@functools.cache
def _insert_notifications() -> Any:
    return insert(table_of(NotificationRow))


async def add(session: AsyncSession, planned: Sequence[Planned], now: datetime) -> int:
    if not planned:
        return 0
    connection = await session.connection()
    await connection.execute(_insert_notifications(), [
        {"alert_id": p.alert_id, "fingerprint": p.fingerprint, "channel": p.channel,
         "action": p.action.value, "reason": p.reason.value, "group_key": p.group_key,
         "status": PENDING, "attempts": 0, "created_at": now, "next_attempt_at": now,
         "snapshot": p.snapshot.model_dump(mode="json")}
        for p in planned
    ])
    return len(planned)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    channel: str
    action: str
    reason: str
    group_key: str
    attempts: int
    created_at: datetime
    snapshot: dict[str, Any]
    token: uuid.UUID


def _due(now: datetime) -> Any:
    earlier = aliased(NotificationRow)
    blocked = exists().where(
        earlier.fingerprint == NotificationRow.fingerprint,
        earlier.channel == NotificationRow.channel,
        earlier.id < NotificationRow.id,
        earlier.status == PENDING,
    )
    return and_(
        NotificationRow.status == PENDING,
        NotificationRow.next_attempt_at <= now,
        (NotificationRow.lease_until.is_(None)) | (NotificationRow.lease_until < now),
        ~blocked,
    )


async def claim(session: AsyncSession, now: datetime, lease: timedelta, limit: int,
                grouped_channels: frozenset[str]) -> list[Claimed]:
    """Claim up to ``limit`` due rows (plus the rest of their mail groups) for ``lease``."""
    postgres = dialect_of(session) == "postgresql"
    statement = select(NotificationRow.id, NotificationRow.group_key, NotificationRow.channel) \
        .where(_due(now)).order_by(NotificationRow.id).limit(limit)
    if postgres:
        statement = statement.with_for_update(skip_locked=True, of=NotificationRow)
    first = (await session.execute(statement)).all()
    if not first:
        return []
    ids = {row.id for row in first}
    groups = {row.group_key for row in first if row.channel in grouped_channels}
    if groups:
        rest = select(NotificationRow.id).where(
            _due(now), NotificationRow.group_key.in_(groups), NotificationRow.id.not_in(ids))
        if postgres:
            rest = rest.with_for_update(skip_locked=True, of=NotificationRow)
        ids |= set((await session.scalars(rest)).all())
    token = uuid.uuid4()
    rows = (await session.execute(
        update(NotificationRow)
        .where(NotificationRow.id.in_(ids))
        .values(lease_until=now + lease, claim_token=token,
                attempts=NotificationRow.attempts + 1)
        .returning(NotificationRow.id, NotificationRow.channel, NotificationRow.action,
                   NotificationRow.reason, NotificationRow.group_key, NotificationRow.attempts,
                   NotificationRow.created_at, NotificationRow.snapshot)
    )).all()
    return sorted(
        (Claimed(id=r.id, channel=r.channel, action=r.action, reason=r.reason,
                 group_key=r.group_key, attempts=r.attempts, created_at=r.created_at,
                 snapshot=r.snapshot, token=token) for r in rows),
        key=lambda c: c.id,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to record for one claimed row after a send."""

    status: str  # SENT, PENDING (retry later) or DEAD
    started_at: datetime
    finished_at: datetime
    error: str | None = None
    status_code: int | None = None
    next_attempt_at: datetime | None = None


@functools.cache
def _record_outcome() -> Any:
    table = table_of(NotificationRow)
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), lease_until=None, claim_token=None,
                last_error=bindparam("b_error"), last_status_code=bindparam("b_code"),
                sent_at=func.coalesce(bindparam("b_sent_at", type_=UtcDateTime()),
                                      table.c.sent_at),
                next_attempt_at=func.coalesce(bindparam("b_next", type_=UtcDateTime()),
                                              table.c.next_attempt_at))
    )


@functools.cache
def _insert_attempts() -> Any:
    return insert(table_of(NotificationAttemptRow))


async def finish_many(session: AsyncSession,
                      results: Sequence[tuple[Claimed, Outcome]]) -> list[bool]:
    """Record the attempts of a batch in three statements, whatever its size; for each,
    whether the lease was still ours (a row whose lease another worker took is left alone)."""
    if not results:
        return []
    ids = [claimed.id for claimed, _ in results]
    current = select(NotificationRow.id, NotificationRow.claim_token) \
        .where(NotificationRow.id.in_(ids))
    if dialect_of(session) == "postgresql":  # hold the rows: no claim can slip in between
        current = current.with_for_update(of=NotificationRow)
    tokens = {row.id: row.claim_token for row in await session.execute(current)}
    owned = [tokens.get(claimed.id) == claimed.token for claimed, _ in results]
    connection = await session.connection()
    updates = [
        {"b_id": claimed.id, "b_status": outcome.status, "b_error": outcome.error,
         "b_code": outcome.status_code,
         "b_sent_at": outcome.finished_at if outcome.status == SENT else None,
         "b_next": outcome.next_attempt_at}
        for (claimed, outcome), mine in zip(results, owned, strict=True) if mine
    ]
    if updates:
        await connection.execute(_record_outcome(), updates)
    names = {SENT: "sent", PENDING: "retry", DEAD: "dead"}
    await connection.execute(_insert_attempts(), [
        {"notification_id": claimed.id, "started_at": outcome.started_at,
         "finished_at": outcome.finished_at,
         "outcome": names[outcome.status] if mine else "lease_lost",
         "status_code": outcome.status_code, "error": outcome.error}
        for (claimed, outcome), mine in zip(results, owned, strict=True)
    ])
    return owned


async def retry_dead(session: AsyncSession, notification_id: int, now: datetime) -> bool:
    """Make a dead notification pending again, due now, with a fresh attempt budget."""
    result = await session.execute(
        update(NotificationRow)
        .where(NotificationRow.id == notification_id, NotificationRow.status == DEAD)
        .values(status=PENDING, next_attempt_at=now, attempts=0, created_at=now,
                lease_until=None, claim_token=None)
    )
    return bool(getattr(result, "rowcount", 0))


async def superseded_by(session: AsyncSession, row: NotificationRow,
                        now: datetime) -> NotificationRow | None:
    """A later notification of the same alert on the same channel that went out (or is
    going out right now), which sending ``row`` would overtake: a retried trigger after
    its resolve would open an incident nobody resolves."""
    later: NotificationRow | None = await session.scalar(
        select(NotificationRow)
        .where(NotificationRow.fingerprint == row.fingerprint,
               NotificationRow.channel == row.channel,
               NotificationRow.id > row.id,
               (NotificationRow.status == SENT)
               | ((NotificationRow.status == PENDING) & (NotificationRow.lease_until > now)))
        .order_by(NotificationRow.id.desc()).limit(1))
    return later


async def depth(session: AsyncSession, now: datetime) -> tuple[dict[str, int], float]:
    """Rows by status and the age in seconds of the oldest pending row (0 when none)."""
    counts: dict[str, int] = {
        status: count for status, count in await session.execute(
            select(NotificationRow.status, func.count()).group_by(NotificationRow.status))
    }
    oldest = await session.scalar(
        select(func.min(NotificationRow.created_at)).where(NotificationRow.status == PENDING))
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return counts, max(age, 0.0)

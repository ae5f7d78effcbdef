"""Alert and event writes of the ingest path, one statement per kind of change whatever the
number of alerts. Never commits: the caller owns the unit of work.

The inputs are neutral records (``store/records.py``); deciding what to write is the
pipeline's persist stage.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    Uuid,
    bindparam,
    case,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.model import Status
from aggregator.store.db import dialect_of
from aggregator.store.records import ContentChange, NewEpisode, NewEvent, Resolution
from aggregator.store.states import lock_fingerprints
from aggregator.store.tables import AlertEventRow, AlertRow, table_of
from aggregator.store.types import UtcDateTime

# Statements are built once and executed with a list of parameter sets (the driver's
# executemany): SQLAlchemy compiles each once, where building a statement per request would
# compile it every time. On PostgreSQL the repeats go through arrays instead (one statement).

@functools.cache
def _insert_alerts() -> Any:
    return insert(table_of(AlertRow))


@functools.cache
def _insert_events() -> Any:
    return insert(table_of(AlertEventRow))


@functools.cache
def _bump_sqlite() -> Any:
    table = table_of(AlertRow)
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(occurrences=table.c.occurrences + bindparam("b_n"),
                last_received_at=bindparam("b_at"),
                expires_at=case((table.c.expires_at.is_(None), None),
                                else_=bindparam("b_exp", type_=UtcDateTime())))
    )


@functools.cache
def _bump_all() -> Any:
    """PostgreSQL: every bump of a transaction in one statement over arrays (one plan, one
    pass), where ``executemany`` would run the UPDATE once per alert."""
    return text(
        "UPDATE alerts AS a SET occurrences = a.occurrences + v.n, last_received_at = :at, "
        "expires_at = CASE WHEN a.expires_at IS NULL THEN NULL ELSE :expires END "
        "FROM unnest(:ids, :ns) AS v(id, n) WHERE a.id = v.id"
    ).bindparams(bindparam("ids", type_=ARRAY(Uuid())), bindparam("ns", type_=ARRAY(Integer())),
                 bindparam("at", type_=UtcDateTime()), bindparam("expires", type_=UtcDateTime()))


@functools.cache
def _repeat_upsert_all() -> Any:
    """PostgreSQL: the coalesced repeat events of a transaction in one statement."""
    return text(
        "INSERT INTO alert_events (alert_id, kind, at, count, bucket, detail) "
        "SELECT v.id, 'repeat', :at, v.n, :bucket, :detail "
        "FROM unnest(:ids, :ns) AS v(id, n) "
        "ON CONFLICT (alert_id, bucket) WHERE bucket IS NOT NULL "
        "DO UPDATE SET count = alert_events.count + excluded.count, at = excluded.at"
    ).bindparams(bindparam("ids", type_=ARRAY(Uuid())), bindparam("ns", type_=ARRAY(Integer())),
                 bindparam("at", type_=UtcDateTime()), bindparam("bucket", type_=BigInteger()),
                 bindparam("detail", type_=JSONB()))


@functools.cache
def _resolve() -> Any:
    # a resolve clears the acknowledgement (the next episode starts unacknowledged)
    table = table_of(AlertRow)
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), ends_at=bindparam("b_ends_at"),
                resolved_reason="source", acknowledged_at=None, acknowledged_by=None)
    )


@functools.cache
def _change() -> Any:
    table = table_of(AlertRow)
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), severity=bindparam("b_severity"),
                summary=bindparam("b_summary"), description=bindparam("b_description"),
                annotations=bindparam("b_annotations"), links=bindparam("b_links"),
                raw=bindparam("b_raw"))
    )


@functools.cache
def _repeat_upsert_sqlite() -> Any:
    table = table_of(AlertEventRow)
    statement = sqlite.insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.alert_id, table.c.bucket],
        index_where=table.c.bucket.is_not(None),
        set_={"count": table.c.count + statement.excluded.count, "at": statement.excluded.at},
    )



def _episode_values(episode: NewEpisode) -> dict[str, Any]:
    alert = episode.alert
    return {
        "id": episode.id,
        "fingerprint": episode.fingerprint,
        "source": alert.source.value,
        "source_ref": alert.source_ref,
        "name": alert.name[:512],
        "status": episode.status.value,
        "severity": alert.severity.value,
        "summary": alert.summary,
        "description": alert.description,
        "resource": alert.resource,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "links": [link.model_dump() for link in alert.links],
        "starts_at": alert.starts_at,
        "ends_at": episode.ends_at,
        "resolved_reason": "source" if episode.status is Status.RESOLVED else None,
        "expires_at": episode.expires_at,
        "first_received_at": episode.received_at,
        "last_received_at": episode.received_at,
        "occurrences": episode.occurrences,
        "raw": alert.raw,
        "notified": episode.notified,
        "silenced_by": episode.silenced_by,
    }


async def insert_episodes(session: AsyncSession, episodes: Sequence[NewEpisode]) -> None:
    if episodes:
        connection = await session.connection()
        await connection.execute(_insert_alerts(), [_episode_values(e) for e in episodes])


async def add_events(session: AsyncSession, events: Sequence[NewEvent]) -> None:
    if events:
        connection = await session.connection()
        await connection.execute(_insert_events(), [
            {"alert_id": e.alert_id, "kind": e.kind, "at": e.at, "count": 1, "bucket": None,
             "detail": e.detail} for e in events])


async def resolve(session: AsyncSession, resolutions: Sequence[Resolution]) -> None:
    """Resolve open rows as the source said (which clears their acknowledgement)."""
    if resolutions:
        connection = await session.connection()
        await connection.execute(_resolve(), [
            {"b_id": r.id, "b_status": Status.RESOLVED.value, "b_ends_at": r.ends_at}
            for r in resolutions])


async def change(session: AsyncSession, changes: Sequence[ContentChange]) -> None:
    """New severity, text, annotations, links and raw payload of open rows."""
    if changes:
        connection = await session.connection()
        await connection.execute(_change(), [
            {"b_id": c.id, "b_status": c.status.value, "b_severity": c.alert.severity.value,
             "b_summary": c.alert.summary, "b_description": c.alert.description,
             "b_annotations": c.alert.annotations,
             "b_links": [link.model_dump() for link in c.alert.links], "b_raw": c.alert.raw}
            for c in changes])


async def bump(session: AsyncSession, counts: Mapping[uuid.UUID, int], at: datetime,
               expires_at: datetime) -> None:
    """Add deliveries to ``occurrences``, set ``last_received_at``; rows that expire (their
    source never resolves them) get ``expires_at`` pushed to ``expires_at``."""
    if not counts:
        return
    connection = await session.connection()
    ordered = sorted(counts.items())
    if dialect_of(session) == "postgresql":
        await connection.execute(_bump_all(), {
            "ids": [alert_id for alert_id, _ in ordered], "ns": [n for _, n in ordered],
            "at": at, "expires": expires_at})
        return
    await connection.execute(_bump_sqlite(), [
        {"b_id": alert_id, "b_n": n, "b_at": at, "b_exp": expires_at}
        for alert_id, n in ordered])


async def mark(session: AsyncSession, notified: Mapping[uuid.UUID, dict[str, Any]],
               silenced: Mapping[uuid.UUID, uuid.UUID | None]) -> None:
    """Store new ``notified`` (channel -> when it got the firing) and ``silenced_by`` values
    of existing rows."""
    table = table_of(AlertRow)
    for alert_id in sorted(set(notified) | set(silenced)):
        values: dict[str, Any] = {}
        if alert_id in notified:
            values["notified"] = notified[alert_id]
        if alert_id in silenced:
            values["silenced_by"] = silenced[alert_id]
        await session.execute(update(table).where(table.c.id == alert_id).values(**values))


async def add_repeats(
    session: AsyncSession,
    repeats: Mapping[uuid.UUID, int],
    received_at: datetime,
    interval: timedelta,
) -> None:
    """Count repeats (alert id -> deliveries) into one ``repeat`` event per alert per
    ``interval``: history grows with problems, not with resends."""
    seconds = interval.total_seconds()
    bucket = int(received_at.timestamp() // seconds)
    window_start = datetime.fromtimestamp(bucket * seconds, tz=received_at.tzinfo)
    detail = {"window_start": window_start.isoformat(), "window_seconds": seconds}
    ordered = sorted(repeats.items())
    connection = await session.connection()
    if dialect_of(session) == "postgresql":
        await connection.execute(_repeat_upsert_all(), {
            "ids": [alert_id for alert_id, _ in ordered], "ns": [n for _, n in ordered],
            "at": received_at, "bucket": bucket, "detail": detail})
        return
    rows = [
        {"alert_id": alert_id, "kind": "repeat", "at": received_at, "count": n, "bucket": bucket,
         "detail": detail}
        for alert_id, n in ordered
    ]
    await connection.execute(_repeat_upsert_sqlite(), rows)


async def set_acknowledgement(session: AsyncSession, alert_id: uuid.UUID, by: str | None,
                              at: datetime) -> None:
    """Acknowledged by ``by`` at ``at``, or (``by`` None) no longer acknowledged."""
    table = table_of(AlertRow)
    await session.execute(update(table).where(table.c.id == alert_id).values(
        acknowledged_at=at if by is not None else None, acknowledged_by=by))


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

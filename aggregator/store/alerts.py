"""Alert and event repository for the ingest path. Never commits: the caller owns the unit of work.

Writes are batched: one statement per table and kind of change, whatever the number of
alerts in the request.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.model import Alert, Link, Severity, Source, Status
from aggregator.pipeline.dedup import Decision, FingerprintState, StoredAlert, Verdict
from aggregator.pipeline.notify import Plan
from aggregator.store.db import dialect_of
from aggregator.store.tables import AlertEventRow, AlertRow, table_of
from aggregator.store.types import UtcDateTime

_STATE_NAMES = (
    "id", "fingerprint", "source_ref", "status", "severity", "summary", "description",
    "annotations", "starts_at", "ends_at", "occurrences", "acknowledged_at", "silenced_by",
    "notified",
)


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


async def lock_fingerprints(session: AsyncSession, fingerprints: Sequence[str]) -> None:
    """Serialize concurrent requests on the same fingerprints until the transaction ends.

    PostgreSQL only (transaction advisory locks, taken in sorted order so two requests can
    never deadlock); SQLite's ``BEGIN IMMEDIATE`` already serializes writers.
    """
    if dialect_of(session) != "postgresql" or not fingerprints:
        return
    connection = await session.connection()
    await connection.execute(_lock_statement(), {"keys": sorted(set(fingerprints))})


@functools.cache
def _lock_statement() -> Any:
    return text(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
        "FROM (SELECT DISTINCT unnest(:keys) AS k ORDER BY 1) AS s"
    ).bindparams(bindparam("keys", type_=ARRAY(Text)))


def alert_of(row: AlertRow) -> Alert:
    """The normalized alert a stored row holds (identity is not kept; not needed after)."""
    return Alert(
        source=Source(row.source), source_ref=row.source_ref, name=row.name,
        status=Status(row.status), severity=Severity(row.severity), summary=row.summary,
        description=row.description, resource=row.resource, labels=row.labels,
        annotations=row.annotations, links=tuple(Link.model_validate(x) for x in row.links),
        starts_at=row.starts_at, ends_at=row.ends_at, identity={}, raw={},
    )


def stored_of(row: Any) -> StoredAlert:
    """The decision state of a stored row (an ``AlertRow`` or a row of the state query)."""
    return StoredAlert(
        id=row.id, fingerprint=row.fingerprint, source_ref=row.source_ref,
        status=Status(row.status), severity=row.severity, summary=row.summary,
        description=row.description, annotations=row.annotations, starts_at=row.starts_at,
        ends_at=row.ends_at, occurrences=row.occurrences,
        acknowledged=row.acknowledged_at is not None, silenced_by=row.silenced_by,
        notified=row.notified or {},
    )


@functools.cache
def _state_query(dialect: str) -> Any:
    """Every episode a request's alerts may touch, in one statement built once: per
    fingerprint the open one and those with a wanted ``source_ref`` (tagged ``current``),
    and the most recently ended one (tagged ``ended``). The lists are bound as arrays on
    PostgreSQL (one prepared statement whatever their length), expanded on SQLite."""
    table = table_of(AlertRow)
    columns = [table.c[name] for name in _STATE_NAMES]
    if dialect == "postgresql":
        def among(column: Any, name: str) -> Any:
            return column == any_(bindparam(name, type_=ARRAY(Text)))
    else:
        def among(column: Any, name: str) -> Any:
            return column.in_(bindparam(name, expanding=True))
    current = select(*columns, literal_column("'current'").label("kind")).where(
        among(table.c.fingerprint, "fps"),
        or_(table.c.status == Status.FIRING.value, among(table.c.source_ref, "refs")),
    )
    latest = (
        select(table.c.fingerprint, func.max(table.c.ends_at).label("ends_at"))
        .where(among(table.c.fingerprint, "fps"), table.c.status == Status.RESOLVED.value)
        .group_by(table.c.fingerprint)
        .subquery()
    )
    ended = (
        select(*columns, literal_column("'ended'").label("kind"))
        .join(latest, and_(table.c.fingerprint == latest.c.fingerprint,
                           table.c.ends_at == latest.c.ends_at))
        .where(table.c.status == Status.RESOLVED.value)
    )
    return union_all(current, ended)


async def load_states(
    session: AsyncSession, wanted: Sequence[tuple[str, str]]
) -> dict[str, FingerprintState]:
    """State of each ``(fingerprint, source_ref)`` pair's fingerprint, in one query."""
    fingerprints = sorted({fp for fp, _ in wanted})
    if not fingerprints:
        return {}
    refs = sorted({ref for _, ref in wanted})
    states = {fp: FingerprintState() for fp in fingerprints}
    connection = await session.connection()
    rows = await connection.execute(_state_query(dialect_of(session)),
                                    {"fps": fingerprints, "refs": refs})
    for row in rows:
        stored = stored_of(row)
        state = states[stored.fingerprint]
        if row.kind == "ended":
            state.last_ended = stored
            continue
        if stored.status is Status.FIRING:
            state.open = stored
        state.by_ref[stored.source_ref] = stored
    return states


def _expires_at(decision: Decision, received_at: datetime,
                expire_after: timedelta) -> datetime | None:
    if decision.keyed.alert.auto_resolves or expire_after <= timedelta(0):
        return None
    return received_at + expire_after


def _row_values(decision: Decision, received_at: datetime,
                expire_after: timedelta) -> dict[str, Any]:
    alert = decision.keyed.alert
    target = decision.target
    return {
        "id": target.id,
        "fingerprint": decision.keyed.fingerprint,
        "source": alert.source.value,
        "source_ref": alert.source_ref,
        "name": alert.name[:512],
        "status": target.status.value,
        "severity": alert.severity.value,
        "summary": alert.summary,
        "description": alert.description,
        "resource": alert.resource,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "links": [link.model_dump() for link in alert.links],
        "starts_at": alert.starts_at,
        "ends_at": target.ends_at,
        "resolved_reason": "source" if target.status is Status.RESOLVED else None,
        "expires_at": _expires_at(decision, received_at, expire_after),
        "first_received_at": received_at,
        "last_received_at": received_at,
        "occurrences": 1,
        "raw": alert.raw,
    }


def _event(alert_id: uuid.UUID, kind: str, at: datetime, detail: dict[str, Any]) -> dict[str, Any]:
    return {"alert_id": alert_id, "kind": kind, "at": at, "count": 1, "bucket": None,
            "detail": detail}


def _delivery_detail(decision: Decision) -> dict[str, Any]:
    alert = decision.keyed.alert
    return {
        "source_ref": alert.source_ref,
        "status": alert.status.value,
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
    }


async def apply(
    session: AsyncSession,
    decisions: Sequence[Decision],
    *,
    received_at: datetime,
    repeat_event_interval: timedelta,
    expire_after: timedelta,
    plan: Plan | None = None,
) -> None:
    """Write what the decisions say: new rows, counters, state changes, events.

    A delivery of an alert that never auto-resolves pushes its ``expires_at`` forward.
    """
    inserts: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    bumps: Counter[uuid.UUID] = Counter()
    repeats: Counter[uuid.UUID] = Counter()
    final: dict[uuid.UUID, Decision] = {}
    inserted: set[uuid.UUID] = set()

    for decision in decisions:
        target = decision.target
        if decision.verdict is Verdict.NEW:
            inserts.append(_row_values(decision, received_at, expire_after))
            inserted.add(target.id)
            kind = "opened" if target.status is Status.FIRING else "resolved"
            events.append(_event(target.id, kind, received_at,
                                 {**_delivery_detail(decision), "first_delivery": True}))
            continue
        if decision.verdict is Verdict.STALE:
            events.append(_event(target.id, "stale", received_at, _delivery_detail(decision)))
            continue
        if target.id in inserted:
            # A later copy in the same request of an episode this request created.
            for row in inserts:
                if row["id"] == target.id:
                    row["occurrences"] += 1
                    row["status"] = target.status.value
                    row["ends_at"] = target.ends_at
                    row["resolved_reason"] = "source" if target.status is Status.RESOLVED else None
        else:
            bumps[target.id] += 1
        if decision.verdict in (Verdict.RESOLVED, Verdict.CHANGED):
            final[target.id] = decision
            detail = _delivery_detail(decision)
            if decision.changes:
                detail["changes"] = {k: list(v) for k, v in decision.changes.items()}
            events.append(_event(target.id, decision.verdict.value, received_at, detail))
        else:
            repeats[target.id] += 1

    plan = plan or Plan()
    for row in inserts:
        row["notified"] = plan.notified.get(row["id"], {})
        row["silenced_by"] = plan.silenced.get(row["id"])
    connection = await session.connection()
    if inserts:
        await connection.execute(_insert_alerts(), inserts)
    await save_plan(session, plan, inserted)
    resolves: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for alert_id, decision in final.items():
        if alert_id in inserted:
            continue
        target = decision.target
        alert = decision.keyed.alert
        if decision.verdict is Verdict.RESOLVED:
            resolves.append({"b_id": alert_id, "b_status": target.status.value,
                             "b_ends_at": target.ends_at})
        else:
            changes.append({
                "b_id": alert_id, "b_status": target.status.value,
                "b_severity": alert.severity.value, "b_summary": alert.summary,
                "b_description": alert.description, "b_annotations": alert.annotations,
                "b_links": [link.model_dump() for link in alert.links], "b_raw": alert.raw,
            })
    if resolves:
        await connection.execute(_resolve(), resolves)
    if changes:
        await connection.execute(_change(), changes)
    if bumps:
        new_expiry = received_at + expire_after
        if dialect_of(session) == "postgresql":
            ordered = sorted(bumps.items())
            await connection.execute(_bump_all(), {
                "ids": [alert_id for alert_id, _ in ordered], "ns": [n for _, n in ordered],
                "at": received_at, "expires": new_expiry})
        else:
            await connection.execute(
                _bump_sqlite(),
                [{"b_id": alert_id, "b_n": n, "b_at": received_at, "b_exp": new_expiry}
                 for alert_id, n in bumps.items()],
            )
    if events:
        await connection.execute(_insert_events(), events)
    if repeats:
        await _upsert_repeat_events(session, repeats, received_at, repeat_event_interval)


async def save_plan(session: AsyncSession, plan: Plan,
                    inserted: set[uuid.UUID] | frozenset[uuid.UUID] = frozenset()) -> None:
    """Store the ``notified`` and ``silenced_by`` changes a plan made to existing rows."""
    for alert_id in (set(plan.notified) | set(plan.silenced)) - inserted:
        values: dict[str, Any] = {}
        if alert_id in plan.notified:
            values["notified"] = plan.notified[alert_id]
        if alert_id in plan.silenced:
            values["silenced_by"] = plan.silenced[alert_id]
        table = table_of(AlertRow)
        await session.execute(update(table).where(table.c.id == alert_id).values(**values))


async def _upsert_repeat_events(
    session: AsyncSession,
    repeats: Counter[uuid.UUID],
    received_at: datetime,
    interval: timedelta,
) -> None:
    """Coalesce repeats into one event per alert per interval (DESIGN 4.3)."""
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

"""What the ingest path reads before it judges: the fingerprint locks and the stored state.

Also the conversions of a stored row back into the pipeline's terms (:func:`alert_of`,
:func:`stored_of`). Never commits: the caller owns the unit of work.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    Text,
    and_,
    any_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.model import Alert, Link, Severity, Source, Status
from aggregator.store.db import dialect_of
from aggregator.store.records import FingerprintState, StoredAlert
from aggregator.store.tables import AlertRow, table_of

_STATE_NAMES = (
    "id", "fingerprint", "source_ref", "status", "severity", "summary", "description",
    "annotations", "starts_at", "ends_at", "occurrences", "acknowledged_at", "silenced_by",
    "notified",
)


#: Fingerprints are locked by bucket: one advisory lock per bucket a transaction touches,
#: never more than this many, however many alerts it carries. PostgreSQL keeps every lock
#: of every transaction in one shared table (``max_locks_per_transaction`` x connections:
#: 6,400 by default), and one lock per alert ran it out at about 3,000 alerts ("out of
#: shared memory", the request refused every time it was retried). Unrelated fingerprints
#: that share a bucket only wait for each other, as writers on SQLite always do.
LOCK_BUCKETS = 1024
#: The first key of the two-key advisory locks (a namespace of their own: the one-key
#: locks, such as the migration lock, never meet them).
_LOCK_SPACE = 0x66707273  # "fprs"


async def lock_fingerprints(session: AsyncSession, fingerprints: Sequence[str]) -> None:
    """Serialize concurrent requests on the same fingerprints until the transaction ends.

    PostgreSQL only (transaction advisory locks on the fingerprints' buckets, taken in
    sorted order so two requests can never deadlock); SQLite's ``BEGIN IMMEDIATE`` already
    serializes writers.
    """
    if dialect_of(session) != "postgresql" or not fingerprints:
        return
    connection = await session.connection()
    await connection.execute(_lock_statement(), {"keys": sorted(set(fingerprints)),
                                                 "space": _LOCK_SPACE,
                                                 "mask": LOCK_BUCKETS - 1})


@functools.cache
def _lock_statement() -> Any:
    return text(
        "SELECT pg_advisory_xact_lock(:space, b) FROM (SELECT DISTINCT "
        "(hashtextextended(k, 0) & :mask)::int AS b FROM unnest(:keys) AS k ORDER BY 1) AS s"
    ).bindparams(bindparam("keys", type_=ARRAY(Text)), bindparam("space", type_=Integer()),
                 bindparam("mask", type_=BigInteger()))


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




@functools.cache
def _open_by_ref(dialect: str) -> Any:
    table = table_of(AlertRow)
    if dialect == "postgresql":
        refs = table.c.source_ref == any_(bindparam("refs", type_=ARRAY(Text)))
    else:
        refs = table.c.source_ref.in_(bindparam("refs", expanding=True))
    return select(table.c.source, table.c.source_ref, table.c.fingerprint).where(
        refs, table.c.status == Status.FIRING.value)


async def open_fingerprints(session: AsyncSession,
                            wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``(source, source_ref) -> fingerprint`` of the open episodes with those ids (served
    by a partial index on the open rows' ``source_ref``)."""
    if not wanted:
        return {}
    connection = await session.connection()
    rows = await connection.execute(_open_by_ref(dialect_of(session)),
                                    {"refs": sorted({ref for _, ref in wanted})})
    pairs = set(wanted)
    return {(row.source, row.source_ref): row.fingerprint for row in rows
            if (row.source, row.source_ref) in pairs}

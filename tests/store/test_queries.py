"""History queries: keyset pages over equal timestamps, text search through the trigram
indexes, and alert lists planned for their own values (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from aggregator.store import queries
from aggregator.store.db import Database
from aggregator.store.queries import AlertFilter
from aggregator.store.tables import AlertRow

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TRGM_INDEXES = {"ix_alerts_name_trgm", "ix_alerts_summary_trgm"}



def _row(n: int, at: datetime, *, status: str = "resolved", name: str = "",
         summary: str = "") -> AlertRow:
    return AlertRow(
        id=uuid.uuid4(), fingerprint=f"fp-{n}", source="alertmanager", source_ref=f"ref-{n}",
        name=name or f"Alert{n}", status=status, severity="warning", summary=summary,
        description="", resource="", labels={"n": str(n)}, annotations={}, links=[],
        starts_at=at, ends_at=None if status == "firing" else at, first_received_at=at,
        last_received_at=at, occurrences=1, raw={},
    )


async def _add(db: Database, rows: list[AlertRow]) -> None:
    async with db.write() as session, session.begin():
        session.add_all(rows)


async def _pages(db: Database, flt: AlertFilter, limit: int) -> list[list[uuid.UUID]]:
    """Follow the keyset the way the API does: after the last row of each page."""
    pages: list[list[uuid.UUID]] = []
    after = None
    while True:
        async with db.read() as session, session.begin():
            rows = await queries.list_alerts(
                session, AlertFilter(**{**flt.__dict__, "after": after}), limit)
        pages.append([row.id for row in rows])
        if len(rows) < limit:
            return pages
        after = (rows[-1].first_received_at, rows[-1].id)


async def test_keyset_pages_cover_alerts_received_together_once(db: Database) -> None:
    # One webhook request stores all its alerts with one first_received_at: ties are the
    # rule, and id orders them.
    rows = [_row(n, T0 + timedelta(minutes=n // 10), status="firing" if n % 3 else "resolved")
            for n in range(30)]
    await _add(db, rows)
    newest_first = sorted(rows, key=lambda r: (r.first_received_at, r.id), reverse=True)

    pages = await _pages(db, AlertFilter(), 4)
    assert [len(p) for p in pages] == [4] * 7 + [2]
    assert [i for p in pages for i in p] == [r.id for r in newest_first]

    resolved = await _pages(db, AlertFilter(status="resolved"), 3)
    assert [i for p in resolved for i in p] == [
        r.id for r in newest_first if r.status == "resolved"]


async def test_keyset_from_a_cursor_between_timestamps(db: Database) -> None:
    rows = [_row(n, T0 + timedelta(seconds=n)) for n in range(5)]
    await _add(db, rows)
    async with db.read() as session, session.begin():
        # a cursor whose row is gone (deleted by retention): the page starts below it
        after = (T0 + timedelta(seconds=2, milliseconds=500), uuid.UUID(int=0))
        found = await queries.list_alerts(session, AlertFilter(after=after), 10)
        assert [r.id for r in found] == [rows[2].id, rows[1].id, rows[0].id]
        # the greatest id at a timestamp: the rows of that timestamp come after it
        after = (T0 + timedelta(seconds=3), uuid.UUID(int=2**128 - 1))
        found = await queries.list_alerts(session, AlertFilter(after=after), 10)
        assert [r.id for r in found] == [rows[3].id, rows[2].id, rows[1].id, rows[0].id]


async def _index_names(db: Database) -> set[str]:
    async with db.read() as session:
        names = await session.scalars(text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = 'alerts'"))
        return set(names)


async def _trgm_available(db: Database) -> bool:
    async with db.read() as session:
        found = await session.scalar(text(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"))
        return bool(found)


async def test_text_search_goes_through_the_trigram_indexes(db: Database,
                                                             is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("trigram indexes are PostgreSQL only; SQLite scans")
    if not await _trgm_available(db):
        pytest.skip("pg_trgm is not installed on this server (the migration skips it)")
    assert await _index_names(db) >= TRGM_INDEXES
    await _add(db, [
        _row(1, T0, name="KubePodCrashLooping", summary="Pod is crash looping."),
        _row(2, T0 + timedelta(seconds=1), name="KubeNodeNotReady",
             summary="Node is not ready."),
        _row(3, T0 + timedelta(seconds=2), name="DiskFull", summary="Volume is 100% full"),
        _row(4, T0 + timedelta(seconds=3), name="Other", summary="100 percent"),
    ])
    async with db.read() as session, session.begin():
        # Too few rows for the planner to want an index on its own: leave it none other.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_indexscan = off"))
        statement = queries.alert_query("postgresql", AlertFilter(text="crash loop"), 51)
        sql = str(statement.compile(dialect=postgresql.dialect(),
                                    compile_kwargs={"literal_binds": True}))
        plan = "\n".join(await session.scalars(text("EXPLAIN " + sql)))
        assert all(name in plan for name in TRGM_INDEXES), plan

        async def names(q: str) -> list[str]:
            rows = await queries.list_alerts(session, AlertFilter(text=q), 51)
            return [row.name for row in rows]

        assert await names("crash loop") == ["KubePodCrashLooping"]
        assert await names("NODENOTREADY") == ["KubeNodeNotReady"]
        assert await names("100%") == ["DiskFull"]
        assert await names("100%_") == []  # % and _ are literal, not wildcards
        assert await names("0 p") == ["Other"]
        assert await names("Ku") == ["KubeNodeNotReady", "KubePodCrashLooping"]  # < 3 chars


async def test_alert_lists_are_planned_for_their_own_values(db: Database,
                                                            is_postgres: bool) -> None:
    """A prepared statement's generic plan serves a label held by one alert and a label
    held by most alerts alike; the list query is planned for its values each time, in its
    own transaction only."""
    if not is_postgres:
        pytest.skip("plan_cache_mode is PostgreSQL's")
    async with db.read() as session, session.begin():
        before = await session.scalar(text("SHOW plan_cache_mode"))
        for _ in range(7):  # past the five runs after which the cache may go generic
            await queries.list_alerts(session, AlertFilter(labels=[("n", "1")]), 10)
        assert await session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    async with db.read() as session, session.begin():
        assert await session.scalar(text("SHOW plan_cache_mode")) == before

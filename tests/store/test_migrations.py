"""Migrations: up, down, up again; and the migrated schema equals the table definitions."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from aggregator.config.service import Settings
from aggregator.store import migrate
from aggregator.store.db import make_engine
from aggregator.store.tables import Base

TABLES = {"alerts", "alert_events", "rejected_payloads", "notifications",
          "notification_attempts", "silences"}


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


PG_ONLY_INDEXES = {"ix_alerts_labels"}  # GIN on JSONB, declared with ddl_if(postgresql)
# Trigram GIN indexes of 0003: made only where pg_trgm is available, with its schema in the
# operator class, so they are not declared in tables.py (tested in test_queries.py).
MIGRATION_ONLY_INDEXES = {"ix_alerts_name_trgm", "ix_alerts_summary_trgm"}


def _diff(connection: Connection) -> list[Any]:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "index" and name in MIGRATION_ONLY_INDEXES:
            return False
        return not (type_ == "index" and name in PG_ONLY_INDEXES
                    and connection.dialect.name != "postgresql")

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_downgrade_upgrade(db_settings: dict[str, Any]) -> None:
    engine = make_engine(Settings(**db_settings))
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == TABLES
        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_table_definitions(db_settings: dict[str, Any]) -> None:
    engine = make_engine(Settings(**db_settings))
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_harmless(db_settings: dict[str, Any]) -> None:
    engine = make_engine(Settings(**db_settings))
    try:
        await migrate.upgrade(engine)
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_each_step_down_and_up_keeps_the_alerts(db_settings: dict[str, Any]) -> None:
    """Stepping 0002 down to 0001 and up again keeps stored alerts (batch ALTER on SQLite)."""
    from sqlalchemy import text

    engine = make_engine(Settings(**db_settings))
    try:
        await migrate.upgrade(engine, "0001_initial")
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO alerts (id, fingerprint, source, source_ref, name, status, severity,"
                " summary, description, resource, labels, annotations, links, starts_at,"
                " first_received_at, last_received_at, occurrences, raw) VALUES"
                " ('0b0e7c3e5d4c4b9a8f1e2d3c4b5a6978', 'f', 'alertmanager', 'r', 'A', 'firing',"
                " 'warning', '', '', '', '{}', '{}', '[]', '2026-11-26 19:00:00',"
                " '2026-11-26 19:00:00', '2026-11-26 19:00:00', 1, '{}')"))
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "0001_initial")
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM alerts"))).scalar()
            notified = (await conn.execute(text("SELECT notified FROM alerts"))).scalar()
        assert count == 1
        assert notified in ({}, "{}")
    finally:
        await engine.dispose()

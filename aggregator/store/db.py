"""Engine and session factories; SQLite pragmas and transaction mode.

SQLite gets WAL, a busy timeout and foreign keys on every connection. SQLAlchemy owns
BEGIN there: write transactions use ``BEGIN IMMEDIATE`` so two writers never both read
and then fail to upgrade their lock, while read-only sessions use a plain deferred BEGIN
so readers run beside the writer under WAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from aggregator.settings import Settings

READ_ONLY = "aggregator_read_only"


def make_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pool_timeout=settings.db_pool_timeout,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "timeout": 5,
            "command_timeout": 30,
            **({"server_settings": {"search_path": settings.database_schema}}
               if settings.database_schema else {}),
        },
    )


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy, not pysqlite, emits BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def dialect_of(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the dialect the session is bound to."""
    bind = session.bind
    if bind is None:
        raise RuntimeError("session is not bound to an engine")
    return bind.dialect.name


@dataclass(frozen=True)
class Database:
    """The engine and the two session factories the service uses."""

    engine: AsyncEngine
    write: async_sessionmaker[AsyncSession]
    read: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def make_database(settings: Settings) -> Database:
    engine = make_engine(settings)
    return Database(
        engine=engine,
        write=async_sessionmaker(engine, expire_on_commit=False),
        read=async_sessionmaker(
            engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        ),
    )

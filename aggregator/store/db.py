"""Engine and session factories; SQLite pragmas and transaction mode.

SQLite gets WAL, a busy timeout and foreign keys on every connection. SQLAlchemy owns
BEGIN there: write transactions use ``BEGIN IMMEDIATE`` so two writers never both read
and then fail to upgrade their lock, while read-only sessions use a plain deferred BEGIN
so readers run beside the writer under WAL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from aggregator.config.service import Settings

READ_ONLY = "aggregator_read_only"


def json_dumps(value: Any) -> str:
    """JSON columns are written with orjson (several times faster than ``json``); what it
    refuses (integers beyond 64 bits, which a payload may carry) goes through ``json``."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# orjson reads integers beyond 64 bits as floats (precision lost): leave those to ``json``.
_LONG_NUMBER = re.compile(r"\d{19}")


def json_loads(text: str | bytes) -> Any:
    """Read JSON columns with orjson, or ``json`` where a number has 19 digits or more."""
    if isinstance(text, bytes):
        text = text.decode()
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    return orjson.loads(text)


def make_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pool_timeout=settings.db_pool_timeout,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
            json_serializer=json_dumps,
            json_deserializer=json_loads,
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
        json_serializer=json_dumps,
        json_deserializer=json_loads,
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

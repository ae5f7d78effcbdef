"""Engine and session factories; SQLite pragmas and transaction mode; the one place that
translates database failures into the service's errors.

SQLite gets WAL, a busy timeout and foreign keys on every connection. SQLAlchemy owns
BEGIN there: write transactions use ``BEGIN IMMEDIATE`` so two writers never both read
and then fail to upgrade their lock, while read-only sessions use a plain deferred BEGIN
so readers run beside the writer under WAL.

Every session the service opens (:meth:`Database.write`, :meth:`Database.read`) translates
what fails inside it (:func:`translate`): the database out of reach, locked or its pool
exhausted is a :class:`~aggregator.errors.TransientError` (503, retry); a value it refuses
for good is a :class:`~aggregator.errors.PayloadError` (422, kept); a constraint is a
:class:`~aggregator.errors.WriteConflictError`. Nothing above ``store/`` reads driver errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from aggregator.config.service import Settings
from aggregator.errors import (
    AggregatorError,
    PayloadError,
    TransientError,
    WriteConflictError,
)

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


_LOCKED = ("SQLITE_BUSY", "SQLITE_LOCKED")


def _is_locked(exc: DBAPIError) -> bool:
    name = getattr(exc.orig, "sqlite_errorname", "")
    if isinstance(name, str) and name.startswith(_LOCKED):
        return True
    text = str(exc.orig).lower() if exc.orig is not None else ""
    return "locked" in text or "busy" in text


def translate(exc: BaseException) -> AggregatorError | None:
    """The service's error for a failure of the database, the driver or the pool; ``None``
    for anything else (a bug: the caller lets it propagate)."""
    if isinstance(exc, AggregatorError):
        return exc
    reason = type(exc).__name__
    if isinstance(exc, PoolTimeoutError):
        return TransientError("database connection pool exhausted; retry shortly",
                              reason=reason)
    if isinstance(exc, DataError):
        detail = str(exc.orig if exc.orig is not None else exc)[:300]
        return PayloadError(f"the database refused a value: {detail}", code="invalid_payload")
    if isinstance(exc, IntegrityError):
        return WriteConflictError("a concurrent write conflicted; retry shortly", reason=reason)
    if isinstance(exc, DBAPIError) and _is_locked(exc):
        return TransientError("database is locked by another writer; retry shortly",
                              reason=reason)
    if isinstance(exc, (SQLAlchemyError, OSError, asyncio.TimeoutError, ConnectionError)):
        return TransientError("database unavailable; retry shortly", reason=reason)
    return None


@contextlib.asynccontextmanager
async def map_db_errors() -> AsyncIterator[None]:
    """Re-raise database failures inside the block as the service's errors (see module)."""
    try:
        yield
    except Exception as exc:
        mapped = translate(exc)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc


@dataclass(frozen=True)
class Database:
    """The engine and the two kinds of session the service uses, errors translated."""

    engine: AsyncEngine
    write_sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session for a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        async with map_db_errors(), self.write_sessions() as session:
            yield session

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads (a deferred ``BEGIN`` on SQLite, beside the writer)."""
        async with map_db_errors(), self.read_sessions() as session:
            yield session


def make_database(settings: Settings) -> Database:
    engine = make_engine(settings)
    return Database(
        engine=engine,
        write_sessions=async_sessionmaker(engine, expire_on_commit=False),
        read_sessions=async_sessionmaker(
            engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        ),
    )

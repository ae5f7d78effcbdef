"""SQLite that cannot write (disk full, read-only) answers webhooks 503 with Retry-After,
never 500, and the service recovers by itself once it can write again.

These run as root in CI, where file permissions do not stop writes, so the faults are
made inside SQLite itself, on the service's own engine, and yield SQLite's real error
codes: ``PRAGMA max_page_count`` at the current size gives SQLITE_FULL ("database or disk
is full"), exactly what a full filesystem gives; ``PRAGMA query_only`` gives
SQLITE_READONLY ("attempt to write a readonly database"). A third test opens the file
read-only at the OS level (``mode=ro``: SQLite opens it O_RDONLY), which holds for root
too, so no variant depends on the user running the tests (chmod would be one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from aggregator.api.context import SERVICES
from tests.faults.helpers import AM, Client, am_message, client_pages, running_app


def sqlite_url(path: Path, query: str = "") -> str:
    return f"sqlite+aiosqlite:///{path}{query}"


class Pragma:
    """Runs ``PRAGMA <name>=<value>`` on every checkout of the service's pool; the value
    can change between requests (None: leave the connection alone)."""

    def __init__(self, client: Client, name: str) -> None:
        self.name = name
        self.value: int | None = None
        engine = client.app[SERVICES].db.engine
        event.listen(engine.sync_engine, "checkout", self._on_checkout)

    def _on_checkout(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if self.value is None:
            return
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA {self.name}={int(self.value)}")
        cursor.close()


async def probe_write_error_setup(client: Client) -> None:
    async with client.app[SERVICES].db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE fault_probe (x BLOB)"))


async def probe_write_error(client: Client) -> str:
    """Write through the service's own engine; the SQLite error it gets (rolled back)."""
    engine = client.app[SERVICES].db.engine
    with pytest.raises(OperationalError) as raised:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO fault_probe VALUES (randomblob(65536))"))
    return str(raised.value.orig)


async def post(client: Client, payload: dict[str, Any]) -> tuple[int, dict[str, Any], str | None]:
    response = await client.post(AM, json=payload)
    return response.status, await response.json(), response.headers.get("Retry-After")


async def stored_names(client: Client) -> set[str]:
    return {item["name"] for item in await client_pages(client, "/api/v1/alerts")}


async def test_disk_full_answers_503_then_recovers(tmp_path: Path) -> None:
    async with running_app(database_url=sqlite_url(tmp_path / "full.db"),
                           retry_after_seconds=7) as client:
        assert (await post(client, am_message("BeforeFull")))[0] == 202
        await probe_write_error_setup(client)
        limit = Pragma(client, "max_page_count")
        limit.value = 1  # SQLite keeps it at least the current size: no page may be added
        assert await probe_write_error(client) == "database or disk is full"  # SQLITE_FULL
        big = "x" * 64 * 1024  # needs overflow pages, so it cannot fit in free space
        refused = []
        for n in range(3):
            status, body, retry_after = await post(
                client, am_message(f"WhileFull{n}", description=big))
            assert status == 503, body
            assert body["error"]["code"] == "unavailable"
            assert retry_after == "7"
            refused.append(f"WhileFull{n}")
        assert (await client.get("/healthz")).status == 200

        limit.value = 1_000_000  # space is back
        for name in refused:  # the sender retries what was refused
            status, body, _ = await post(client, am_message(name, description=big))
            assert status == 202, body
            assert body["new"] == 1
        assert await stored_names(client) == {"BeforeFull", *refused}


async def test_read_only_database_answers_503_then_recovers(tmp_path: Path) -> None:
    async with running_app(database_url=sqlite_url(tmp_path / "ro.db")) as client:
        assert (await post(client, am_message("BeforeReadOnly")))[0] == 202
        await probe_write_error_setup(client)
        read_only = Pragma(client, "query_only")
        read_only.value = 1
        assert await probe_write_error(client) == "attempt to write a readonly database"
        for n in range(3):
            status, body, retry_after = await post(client, am_message(f"WhileReadOnly{n}"))
            assert status == 503, body
            assert retry_after == "5"
        # Reads still work while writes are refused.
        assert await stored_names(client) == {"BeforeReadOnly"}

        read_only.value = 0
        for n in range(3):
            assert (await post(client, am_message(f"WhileReadOnly{n}")))[0] == 202
        assert await stored_names(client) == {"BeforeReadOnly", *(f"WhileReadOnly{n}"
                                                                   for n in range(3))}


async def test_file_opened_read_only_answers_503(tmp_path: Path) -> None:
    path = tmp_path / "file-ro.db"
    async with running_app(database_url=sqlite_url(path)) as client:
        assert (await post(client, am_message("Writable")))[0] == 202
        await probe_write_error_setup(client)
    # The same file, opened O_RDONLY by SQLite itself (also binding for root).
    async with running_app(database_url=f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true",
                           migrate_on_start=False) as client:
        status, body, retry_after = await post(client, am_message("ReadOnlyFile"))
        assert status == 503, body
        assert retry_after == "5"
        assert await stored_names(client) == {"Writable"}
        assert await probe_write_error(client) == "attempt to write a readonly database"

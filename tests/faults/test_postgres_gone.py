"""PostgreSQL unreachable for a while in the middle of a stream of deliveries (through a
cuttable loopback proxy, never the shared server): webhooks answer 503 with Retry-After,
the service recovers by itself when the database is back, and nothing accepted is lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.test_unavailable import CuttableProxy
from tests.conftest import PG_URL
from tests.faults.helpers import (
    AM,
    Client,
    am_message,
    client_pages,
    pg_schema,
    running_app,
)
from tests.helpers import eventually

SENDERS = 4


async def test_postgres_cut_mid_stream_503_then_recovers_nothing_lost() -> None:
    if not PG_URL:
        pytest.skip("AGGREGATOR_TEST_DATABASE_URL not set (CI sets it)")
    upstream = int(PG_URL.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    proxy = CuttableProxy(upstream)
    await proxy.start()
    try:
        async with pg_schema() as schema:
            url = PG_URL.replace(f":{upstream}/", f":{proxy.port}/", 1)
            assert url != PG_URL
            async with running_app(database_url=url, database_schema=schema,
                                   db_pool_timeout=1.0) as client:
                await stream_through_a_cut(client, proxy)
    finally:
        await proxy.stop()


async def stream_through_a_cut(client: Client, proxy: CuttableProxy) -> None:
    accepted: list[str] = []
    refused: list[str] = []
    statuses: list[int] = []
    phase = {"name": "before"}
    # Statuses of the requests that started and ended in one phase.
    by_phase: dict[str, list[int]] = {"before": [], "cut": [], "after": []}
    stop = asyncio.Event()

    async def sender(index: int) -> None:
        n = 0
        while not stop.is_set():
            name = f"PgCut{index}x{n}"
            n += 1
            current = phase["name"]
            response = await client.post(AM, json=am_message(name))
            await response.read()
            statuses.append(response.status)
            if phase["name"] == current:
                by_phase[current].append(response.status)
            if response.status == 202:
                accepted.append(name)
            else:
                assert response.status == 503, (name, response.status, await response.text())
                assert response.headers["Retry-After"] == "5"
                refused.append(name)
                await asyncio.sleep(0.1)  # a sender backs off (the real ones wait longer)
            await asyncio.sleep(0.01)

    senders = [asyncio.create_task(sender(i)) for i in range(SENDERS)]
    try:
        # Phases end on what the senders saw, not on a clock: a loaded machine is slow.
        await eventually(lambda: len(by_phase["before"]) >= SENDERS * 2, timeout=30,
                         what="deliveries accepted before the cut")
        phase["name"] = "cut"
        proxy.cut()
        await eventually(lambda: 503 in by_phase["cut"], timeout=30, what="a 503 during the cut")
        await asyncio.sleep(0.5)
        assert (await client.get("/readyz")).status == 503
        proxy.restore()
        phase["name"] = "after"
        # The service reconnects by itself: no restart, no call.
        await eventually(lambda: by_phase["after"][-SENDERS * 3:] == [202] * SENDERS * 3,
                         timeout=30, what="deliveries accepted again after the cut")
    finally:
        stop.set()
        await asyncio.gather(*senders)

    assert 500 not in statuses
    assert by_phase["before"] and set(by_phase["before"]) == {202}
    assert 503 in by_phase["cut"], by_phase["cut"]
    assert by_phase["after"][-SENDERS * 3:] == [202] * SENDERS * 3, by_phase["after"]
    assert (await client.get("/readyz")).status == 200

    in_doubt = 0
    for name in refused:  # what a sender does with a 503: send it again later
        response = await client.post(AM, json=am_message(name))
        assert response.status == 202, await response.text()
        body: dict[str, Any] = await response.json()
        assert body["new"] + body["repeats"] == 1
        # A repeat: the cut fell between PostgreSQL applying COMMIT and its reply reaching
        # the service, which cannot know and answers 503; the resend deduplicates. Only a
        # request in flight at the cut can be in that state.
        in_doubt += body["repeats"]
    assert in_doubt <= SENDERS
    stored = [item["name"] for item in await client_pages(client, "/api/v1/alerts")]
    assert len(stored) == len(set(stored))
    assert set(stored) == set(accepted) | set(refused)

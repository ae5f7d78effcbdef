"""One very large outage group in one body: accepted and stored once, on both databases.

On PostgreSQL the fingerprints of a transaction are locked by bucket, not one lock each:
one lock per alert ran the shared lock table out at about 3,000 distinct alerts ("out of
shared memory") and the request was refused on every retry.
"""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from aggregator.api.context import SERVICES
from aggregator.store.tables import AlertRow
from tests.api.helpers import Client

AM = "/webhooks/alertmanager"
COUNT = 45_000
JSON = {"Content-Type": "application/json"}


def _body(count: int) -> bytes:
    """An Alertmanager message of ``count`` distinct small alerts (under 4 MiB for 45,000)."""
    alerts = [{"status": "firing", "labels": {"alertname": "N", "i": str(i)},
               "startsAt": "2026-12-01T00:00:00Z"} for i in range(count)]
    message = {"version": "4", "status": "firing", "receiver": "r", "alerts": alerts}
    return json.dumps(message, separators=(",", ":")).encode()


async def test_45000_alerts_in_one_body_are_accepted_and_stored_once(client: Client) -> None:
    body = _body(COUNT)
    assert len(body) <= 4 * 1024 * 1024
    response = await client.post(AM, data=io.BytesIO(body), headers=JSON, timeout=None)
    answer = await response.json()
    assert response.status == 202, answer
    assert (answer["received"], answer["new"]) == (COUNT, COUNT)
    again = await client.post(AM, data=io.BytesIO(body), headers=JSON, timeout=None)
    assert (await again.json())["repeats"] == COUNT
    async with client.app[SERVICES].db.read() as session, session.begin():
        rows, fingerprints, occurrences = (await session.execute(select(
            func.count(), func.count(AlertRow.fingerprint.distinct()),
            func.sum(AlertRow.occurrences)))).one()
    assert (rows, fingerprints, occurrences) == (COUNT, COUNT, 2 * COUNT)

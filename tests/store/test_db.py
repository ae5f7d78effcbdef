"""JSON columns: orjson where it is exact, ``json`` where it is not; values survive the
round trip through either database unchanged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from aggregator.store.db import Database, json_dumps, json_loads
from aggregator.store.tables import AlertRow

AWKWARD: dict[str, Any] = {
    "big": 10**30, "negative_big": -(10**25), "int64": 2**63 - 1, "float": 0.1,
    "long_float": 0.12345678901234567890123, "text": "Grüße, 警报 \u2028", "nested": [{"a": None}],
    "empty": {}, "true": True,
}


def test_json_dumps_falls_back_for_what_orjson_refuses() -> None:
    assert json_loads(json_dumps({"big": 10**30})) == {"big": 10**30}
    assert json_dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'


def test_json_loads_keeps_big_integers_exact() -> None:
    assert json_loads('{"n": 100000000000000000000000000001}') == {
        "n": 100000000000000000000000000001}
    assert json_loads(b'{"n": 5}') == {"n": 5}



async def test_json_columns_round_trip_exactly(db: Database) -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    alert_id = uuid.uuid4()
    async with db.write() as session, session.begin():
        session.add(AlertRow(
            id=alert_id, fingerprint="f" * 64, source="alertmanager", source_ref="r",
            name="n", status="resolved", severity="info", summary="", description="",
            resource="", labels={"k": "v"}, annotations={}, links=[], starts_at=now,
            ends_at=now, first_received_at=now, last_received_at=now, occurrences=1,
            raw=AWKWARD))
    async with db.read() as session:
        raw = await session.scalar(select(AlertRow.raw).where(AlertRow.id == alert_id))
    assert raw == AWKWARD
    assert isinstance(raw["big"], int)

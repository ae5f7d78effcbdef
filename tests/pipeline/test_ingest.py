"""Several requests in one ingest transaction (what the group commit does under load) give
what the same requests sent one after the other give: decisions, counts, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from aggregator.config.routing import NotificationSettings
from aggregator.model import Alert, Status
from aggregator.pipeline.ingest import IngestRequest, ingest_many, may_be_one_request
from aggregator.store.db import Database
from aggregator.store.tables import AlertRow, NotificationRow
from tests.factories import alert

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
ROUTES = NotificationSettings.model_validate({
    "channels": {"mail": {"type": "email", "host": "127.0.0.1", "port": 2525,
                          "security": "none", "from": "a@example.com",
                          "to": ["oncall@example.com"]}},
    "default_route": {"channels": ["mail"]},
})



async def run(db: Database, *requests: list[Alert]) -> list[dict[str, int]]:
    results = await ingest_many(
        db.write, [IngestRequest(alerts, T0 + timedelta(seconds=i))
                   for i, alerts in enumerate(requests)],
        repeat_event_interval=timedelta(minutes=5), expire_after=timedelta(hours=24),
        notifications=ROUTES)
    return [result.counts() | {"notifications": result.notifications} for result in results]


async def test_a_firing_and_its_resolve_in_one_transaction_page_and_close_the_page(
        db: Database) -> None:
    counts = await run(db, [alert(1), alert(2)], [alert(1)], [alert(1, status=Status.RESOLVED)])
    assert [(c["new"], c["repeats"], c["resolved"], c["notifications"]) for c in counts] == [
        (2, 0, 0, 2), (0, 1, 0, 0), (0, 0, 1, 1)]
    async with db.read() as session:
        rows = (await session.execute(select(AlertRow.name, AlertRow.status,
                                             AlertRow.occurrences))).all()
        outbox = (await session.execute(
            select(NotificationRow.action, NotificationRow.group_key)
            .order_by(NotificationRow.id))).all()
    assert sorted(rows) == [("Alert1", "resolved", 3), ("Alert2", "firing", 1)]
    # the resolve reaches the channel its firing was planned for in the same transaction
    assert [action for action, _ in outbox] == ["trigger", "trigger", "resolve"]
    # one mail group per request, as if the requests had come one by one
    assert outbox[0].group_key == outbox[1].group_key != outbox[2].group_key


async def test_the_same_new_alert_in_two_requests_of_one_transaction_is_one_page(
        db: Database) -> None:
    counts = await run(db, [alert(7)], [alert(7)], [alert(7)])
    assert [c["new"] for c in counts] == [1, 0, 0]
    assert [c["repeats"] for c in counts] == [0, 1, 1]
    async with db.read() as session:
        pages = await session.scalar(select(func.count()).select_from(NotificationRow))
        occurrences = await session.scalar(select(AlertRow.occurrences))
    assert pages == 1 and occurrences == 3


async def test_no_requests_no_transaction(db: Database) -> None:
    assert await run(db) == []


def test_which_failures_may_belong_to_one_request() -> None:
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    from aggregator.store.db import translate

    # What reaches the group commit: failures as the store translated them, or a bug.
    assert may_be_one_request(translate(DataError("INSERT", {}, Exception("bad value"))))
    assert may_be_one_request(translate(IntegrityError("INSERT", {}, Exception("unique"))))
    assert may_be_one_request(KeyError("a bug on an odd payload"))
    assert not may_be_one_request(translate(OperationalError("BEGIN", {}, Exception("gone"))))
    assert not may_be_one_request(translate(PoolTimeoutError("pool exhausted")))
    assert not may_be_one_request(translate(ConnectionRefusedError()))


async def test_repeats_in_later_transactions_bump_and_coalesce_into_one_event(
        db: Database) -> None:
    from aggregator.store.tables import AlertEventRow

    await run(db, [alert(1), alert(2)])
    await run(db, [alert(1)], [alert(1), alert(2)])  # three repeats, one transaction
    await run(db, [alert(1)])
    async with db.read() as session:
        occurrences = {row.name: row.occurrences for row in await session.execute(
            select(AlertRow.name, AlertRow.occurrences))}
        repeats = (await session.execute(
            select(AlertRow.name, AlertEventRow.count)
            .join(AlertRow, AlertRow.id == AlertEventRow.alert_id)
            .where(AlertEventRow.kind == "repeat"))).all()
    assert occurrences == {"Alert1": 4, "Alert2": 2}
    # one coalesced event per alert in the interval, counting every repeat
    assert sorted(repeats) == [("Alert1", 3), ("Alert2", 1)]

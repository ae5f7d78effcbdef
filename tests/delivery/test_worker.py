"""The outbox worker against the real database and the loopback PagerDuty fake.

Nothing lost, nothing doubled: a worker killed between claim and send, two workers racing
over 1,000 rows, PagerDuty failing for a while, a 400 that goes dead and is retried.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from aggregator.channels.pagerduty import PagerDutyChannel, PagerDutyConfig
from aggregator.config.routing import NotificationSettings
from aggregator.config.service import DeliverySettings, Settings
from aggregator.delivery.worker import Worker
from aggregator.metrics import Metrics
from aggregator.model import Status
from aggregator.notice import Action, AlertSnapshot, Planned, Reason
from aggregator.pipeline.ingest import ingest
from aggregator.store import outbox
from aggregator.store.db import Database, make_database
from aggregator.store.tables import NotificationAttemptRow, NotificationRow
from tests.factories import alert
from tests.fakes.pagerduty import ROUTING_KEY, PagerDutyFake, pagerduty_fake
from tests.helpers import MovableClock, eventually

PD = PagerDutyConfig(type="pagerduty", routing_key=ROUTING_KEY)
ROUTES = NotificationSettings.model_validate({
    "channels": {"pd": PD.model_dump(mode="python") | {"routing_key": ROUTING_KEY}},
    "default_route": {"channels": ["pd"]},
})
FAST = DeliverySettings(backoff_initial=timedelta(milliseconds=50),
                        backoff_max=timedelta(milliseconds=200), lease=timedelta(seconds=2),
                        poll_interval=timedelta(milliseconds=50), batch_size=50)



@pytest.fixture
async def fake() -> AsyncIterator[PagerDutyFake]:
    async with pagerduty_fake() as server:
        yield server


def clock() -> datetime:
    return datetime.now(UTC)


async def enqueue(db: Database, count: int) -> None:
    for start in range(0, count, 100):
        await ingest(db.write, [alert(n) for n in range(start, min(start + 100, count))],
                     received_at=clock(), repeat_event_interval=timedelta(minutes=5),
                     expire_after=timedelta(hours=24), notifications=ROUTES)


def worker(db: Database, fake: PagerDutyFake, settings: DeliverySettings = FAST, *,
           now: Callable[[], datetime] = clock) -> Worker:
    channel = PagerDutyChannel("pd", PD.model_copy(update={"routing_key": PD.routing_key}),
                               transport=fake.transport())
    return Worker(db, {"pd": channel}, settings, Metrics(), now)


async def drain(db: Database, *workers: Worker, timeout: float = 60) -> None:
    """Run the workers until no notification is pending any more."""
    async def until_empty(w: Worker) -> None:
        while "pending" in await statuses(db):
            if await w.run_once() == 0:
                await asyncio.sleep(0.02)

    await asyncio.wait_for(asyncio.gather(*(until_empty(w) for w in workers)), timeout)


async def statuses(db: Database) -> dict[str, int]:
    async with db.read() as session:
        rows = await session.execute(
            select(NotificationRow.status, func.count()).group_by(NotificationRow.status))
        return {status: count for status, count in rows}


def triggers_by_key(fake: PagerDutyFake) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in fake.events:
        if event["event_action"] == "trigger":
            counts[event["dedup_key"]] = counts.get(event["dedup_key"], 0) + 1
    return counts


async def test_worker_killed_between_claim_and_send_resends_once_after_the_lease(
    db: Database, fake: PagerDutyFake
) -> None:
    await enqueue(db, 3)
    # A long lease, and the survivor's clock moved past it: no race with a slow machine
    # between "still leased" and "expired", and no sleep.
    lease = timedelta(seconds=30)
    async with db.write() as session, session.begin():  # a worker claims, then dies
        claimed = await outbox.claim(session, clock(), lease, 10, frozenset())
    assert len(claimed) == 3
    survivor_clock = MovableClock()
    survivor = worker(db, fake, now=survivor_clock)
    assert await survivor.run_once() == 0  # still leased to the dead worker
    survivor_clock.advance(lease + timedelta(seconds=1))
    assert await survivor.run_once() == 3
    await drain(db, survivor)
    assert sorted(triggers_by_key(fake).values()) == [1, 1, 1]
    assert await statuses(db) == {"sent": 3}
    async with db.read() as session:
        attempts = await session.scalar(select(func.max(NotificationRow.attempts)))
    assert attempts == 2  # the dead worker's claim counted as an attempt
    await survivor.aclose()


async def test_a_late_finish_from_a_worker_that_lost_its_lease_changes_nothing(
    db: Database, fake: PagerDutyFake
) -> None:
    await enqueue(db, 1)
    async with db.write() as session, session.begin():
        (stale,) = await outbox.claim(session, clock(), timedelta(milliseconds=1), 10,
                                      frozenset())
    await asyncio.sleep(0.01)
    live = worker(db, fake)
    await drain(db, live)
    async with db.write() as session, session.begin():
        [owned] = await outbox.finish_many(session, [(stale, outbox.Outcome(
            outbox.PENDING, clock(), clock(), error="late", next_attempt_at=clock()))])
    assert owned is False
    assert await statuses(db) == {"sent": 1}
    await live.aclose()


async def test_two_workers_send_each_of_1000_notifications_exactly_once(
    db_settings: dict[str, Any], db: Database, fake: PagerDutyFake
) -> None:
    await enqueue(db, 1000)
    other = make_database(Settings(**db_settings))
    # A lease no batch outlives even on a loaded machine: an expired lease is a legitimate
    # re-send (at least once), not the double claim this test is about.
    settings = FAST.model_copy(update={"lease": timedelta(seconds=60)})
    try:
        first, second = worker(db, fake, settings), worker(other, fake, settings)
        started = asyncio.get_running_loop().time()
        await drain(db, first, second, timeout=120)
        elapsed = asyncio.get_running_loop().time() - started
        counts = triggers_by_key(fake)
        assert len(counts) == 1000
        assert set(counts.values()) == {1}
        assert await statuses(db) == {"sent": 1000}
        print(f"\n1000 notifications through 2 workers in {elapsed:.2f} s "
              f"({1000 / elapsed:.0f}/s)")
        await first.aclose()
        await second.aclose()
    finally:
        await other.engine.dispose()


async def test_pagerduty_failing_for_a_while_then_recovering_loses_nothing(
    db: Database, fake: PagerDutyFake
) -> None:
    await enqueue(db, 20)
    fake.fail_next(15, status=500)
    fake.fail_next(5, status=429, retry_after=0.1)
    w = worker(db, fake)
    async with fake.outage():
        for _ in range(3):
            await w.run_once()
            await asyncio.sleep(0.1)
    await drain(db, w)
    assert await statuses(db) == {"sent": 20}
    assert sorted(triggers_by_key(fake).values()) == [1] * 20
    async with db.read() as session:
        outcomes = {outcome: count for outcome, count in await session.execute(
            select(NotificationAttemptRow.outcome, func.count())
            .group_by(NotificationAttemptRow.outcome))}
    assert outcomes["sent"] == 20
    assert outcomes["retry"] >= 20
    assert "dead" not in outcomes
    await w.aclose()


async def test_bad_request_is_dead_and_retry_revives_it(db: Database, fake: PagerDutyFake) -> None:
    await enqueue(db, 1)
    fake.fail_next(1, status=400, body={"status": "invalid event", "message": "Event object "
                                        "is invalid", "errors": ["'payload.summary' missing"]})
    w = worker(db, fake)
    await drain(db, w)
    async with db.read() as session:
        row = (await session.scalars(select(NotificationRow))).one()
    assert row.status == "dead"
    assert row.last_status_code == 400
    assert "payload.summary" in (row.last_error or "")
    async with db.write() as session, session.begin():
        assert await outbox.retry_dead(session, row.id, clock())
    await drain(db, w)
    assert await statuses(db) == {"sent": 1}
    await w.aclose()


async def test_exhausted_attempts_go_dead(db: Database, fake: PagerDutyFake) -> None:
    await enqueue(db, 1)
    fake.fail_next(10, status=503)
    w = worker(db, fake, FAST.model_copy(update={"max_attempts": 3}))
    await drain(db, w)
    assert await statuses(db) == {"dead": 1}
    assert fake.request_count == 3
    await w.aclose()


async def test_resolve_waits_for_its_trigger(db: Database, fake: PagerDutyFake) -> None:
    """A resolve never overtakes the trigger of the same alert (no incident left open)."""
    await enqueue(db, 1)
    resolved = alert(0, status=Status.RESOLVED)
    await ingest(db.write, [resolved], received_at=clock(),
                 repeat_event_interval=timedelta(minutes=5), expire_after=timedelta(hours=24),
                 notifications=ROUTES)
    fake.fail_next(2, status=500)  # the trigger fails twice; the resolve must wait
    w = worker(db, fake)
    await drain(db, w)
    actions = [e["event_action"] for e in fake.events]
    assert actions == ["trigger", "resolve"]
    (incident,) = fake.alerts
    assert incident.status == "resolved"
    await w.aclose()


async def test_finished_sends_are_recorded_while_a_slow_one_is_still_out(
    db: Database, fake: PagerDutyFake
) -> None:
    """A crash while one send hangs must not re-send the ones that already went out."""
    await enqueue(db, 3)
    fake.hang_next(1)  # whichever is sent first gets no answer until release()
    w = worker(db, fake, FAST.model_copy(update={"lease": timedelta(seconds=30)}))
    batch = asyncio.create_task(w.run_once())

    async def two_sent() -> bool:
        return (await statuses(db)).get("sent", 0) >= 2

    await eventually(two_sent, timeout=20, what="the two sends that were answered recorded")
    assert fake.hanging == 1 and not batch.done()  # the held send is still out
    assert await statuses(db) == {"sent": 2, "pending": 1}
    fake.release()  # its connection drops unanswered: a retry, sent by the next pass
    assert await batch == 3
    await drain(db, w)
    assert await statuses(db) == {"sent": 3}
    assert sorted(triggers_by_key(fake).values()) == [1, 1, 1]
    await w.aclose()


async def test_a_row_for_a_channel_not_in_the_configuration_is_dead_and_names_it(
    db: Database, fake: PagerDutyFake
) -> None:
    """A row whose channel the worker does not have (removed from the configuration while
    the row waited) is dead at its first pass, not retried, and the error names it."""
    unknown = str(uuid.UUID(int=0))
    assert unknown not in ROUTES.channels
    await enqueue(db, 1)  # the alert, and its trigger for "pd"
    async with db.write() as session, session.begin():
        row = (await session.scalars(select(NotificationRow))).one()
        await outbox.add(session, [Planned(
            alert_id=row.alert_id, fingerprint=row.fingerprint, channel=unknown,
            action=Action.TRIGGER, reason=Reason.NEW, group_key=f"g:{unknown}",
            snapshot=AlertSnapshot.model_validate(row.snapshot))], clock())
    w = worker(db, fake)
    await drain(db, w)
    async with db.read() as session:
        rows = {r.channel: r for r in await session.scalars(select(NotificationRow))}
        attempts = (await session.scalars(
            select(NotificationAttemptRow.outcome)
            .where(NotificationAttemptRow.notification_id == rows[unknown].id))).all()
    assert (rows[unknown].status, rows[unknown].attempts) == ("dead", 1)
    assert repr(unknown) in (rows[unknown].last_error or "")
    assert "configuration" in (rows[unknown].last_error or "")
    assert attempts == ["dead"]
    assert rows["pd"].status == "sent"  # the configured channel is not held up by it
    assert sorted(triggers_by_key(fake).values()) == [1]
    await w.aclose()

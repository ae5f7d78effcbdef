"""The outbox repository on its own: which rows a claim takes (order, limit, mail groups,
a resolve never before its trigger), leases and their takeover, who may record a result,
reviving dead rows, what a retry would overtake, and the queue depth."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from aggregator.notice import Action, AlertSnapshot, Planned, Reason
from aggregator.store import outbox
from aggregator.store.db import Database
from aggregator.store.tables import AlertRow, NotificationAttemptRow, NotificationRow
from tests.factories import planned, snapshot

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
SECOND = timedelta(seconds=1)


async def alert(db: Database, name: str) -> AlertSnapshot:
    """An alert stored in ``alerts`` (notifications reference it) and its snapshot."""
    item = snapshot(name)
    async with db.write() as session, session.begin():
        session.add(AlertRow(
            id=item.id, fingerprint=item.fingerprint, source=item.source.value,
            source_ref=f"{name}@{item.starts_at.isoformat()}", name=name,
            status=item.status.value, severity=item.severity.value, summary=item.summary,
            description="", resource="", labels={}, annotations={}, links=[],
            starts_at=item.starts_at, first_received_at=NOW, last_received_at=NOW,
            occurrences=1, raw={}))
    return item


async def add(db: Database, *rows: Planned, at: datetime = NOW) -> list[int]:
    """Write ``rows`` as the pipeline does (due at ``at``); their ids, in order."""
    async with db.write() as session, session.begin():
        before = await session.scalar(select(NotificationRow.id).order_by(
            NotificationRow.id.desc()).limit(1)) or 0
        assert await outbox.add(session, rows, at) == len(rows)
        ids = (await session.scalars(select(NotificationRow.id).where(
            NotificationRow.id > before).order_by(NotificationRow.id))).all()
    assert len(ids) == len(rows)
    return list(ids)


async def claim(db: Database, at: datetime = NOW, limit: int = 10,
                grouped: frozenset[str] = frozenset()) -> list[outbox.Claimed]:
    async with db.write() as session, session.begin():
        return await outbox.claim(session, at, LEASE, limit, grouped)


async def finish(db: Database, *results: tuple[outbox.Claimed, outbox.Outcome]) -> list[bool]:
    async with db.write() as session, session.begin():
        return await outbox.finish_many(session, results)


def sent(at: datetime = NOW) -> outbox.Outcome:
    return outbox.Outcome(outbox.SENT, at, at + SECOND, status_code=202)


def retry(at: datetime = NOW, after: timedelta = timedelta(minutes=1)) -> outbox.Outcome:
    return outbox.Outcome(outbox.PENDING, at, at + SECOND, error="HTTP 500", status_code=500,
                          next_attempt_at=at + after)


def dead(at: datetime = NOW) -> outbox.Outcome:
    return outbox.Outcome(outbox.DEAD, at, at + SECOND, error="HTTP 400: invalid event",
                          status_code=400)


async def row(db: Database, notification_id: int) -> NotificationRow:
    async with db.read() as session:
        found = await session.get(NotificationRow, notification_id)
    assert found is not None
    return found


async def attempts(db: Database, notification_id: int) -> list[str]:
    async with db.read() as session:
        return list((await session.scalars(
            select(NotificationAttemptRow.outcome)
            .where(NotificationAttemptRow.notification_id == notification_id)
            .order_by(NotificationAttemptRow.id))).all())


def ids(claimed: Sequence[outbox.Claimed]) -> list[int]:
    return [c.id for c in claimed]


# -- claim ----------------------------------------------------------------------------------


async def test_claim_takes_the_oldest_due_rows_first_up_to_the_limit(db: Database) -> None:
    alerts = [await alert(db, f"Alert{n}") for n in range(5)]
    first = await add(db, *(planned(a) for a in alerts[:3]))
    later = await add(db, *(planned(a) for a in alerts[3:]), at=NOW + SECOND)

    batch = await claim(db, NOW + SECOND, limit=2)
    assert ids(batch) == first[:2]
    assert len({c.token for c in batch}) == 1  # one claim, one token
    assert [(c.attempts, c.channel, c.action, c.reason) for c in batch] == [
        (1, "pd", "trigger", "new")] * 2
    assert batch[0].snapshot == alerts[0].model_dump(mode="json")
    assert (await row(db, first[0])).lease_until == NOW + SECOND + LEASE
    assert ids(await claim(db, NOW + SECOND)) == [first[2], *later]
    assert await claim(db, NOW + SECOND) == []


async def test_a_row_is_not_claimed_before_it_is_due(db: Database) -> None:
    (due,) = await add(db, planned(await alert(db, "Due")))
    (later,) = await add(db, planned(await alert(db, "Later")), at=NOW + timedelta(minutes=1))
    assert ids(await claim(db, NOW)) == [due]
    assert ids(await claim(db, NOW + timedelta(minutes=1))) == [later]


async def test_a_resolve_waits_while_its_trigger_on_the_same_channel_is_pending(
        db: Database) -> None:
    crash, other = await alert(db, "Crash"), await alert(db, "Other")
    trigger_pd, trigger_mail = await add(db, planned(crash), planned(crash, channel="mail"))
    resolve_pd, resolve_mail = await add(
        db, planned(crash, action=Action.RESOLVE, reason=Reason.RESOLVED),
        planned(crash, channel="mail", action=Action.RESOLVE, reason=Reason.RESOLVED))
    (unrelated,) = await add(db, planned(other))

    # the triggers and another alert's row go; the resolves wait for their own trigger
    first = await claim(db)
    assert ids(first) == [trigger_pd, trigger_mail, unrelated]
    by_id = {c.id: c for c in first}
    assert await claim(db) == []  # the triggers are leased, the resolves still blocked
    # a retry keeps the trigger pending: its resolve still waits, even once the trigger
    # is due again
    assert await finish(db, (by_id[trigger_pd], retry()), (by_id[trigger_mail], sent()),
                        (by_id[unrelated], sent())) == [True, True, True]
    assert ids(await claim(db)) == [resolve_mail]  # mail's trigger went out
    (again,) = await claim(db, NOW + timedelta(minutes=1))
    assert again.id == trigger_pd
    assert await claim(db, NOW + timedelta(minutes=1)) == []  # resolve_pd: blocked
    assert await finish(db, (again, sent(NOW + timedelta(minutes=1)))) == [True]
    assert ids(await claim(db, NOW + timedelta(minutes=1))) == [resolve_pd]


async def test_a_trigger_that_went_dead_no_longer_blocks_its_resolve(db: Database) -> None:
    crash = await alert(db, "Crash")
    trigger, resolve = await add(
        db, planned(crash), planned(crash, action=Action.RESOLVE, reason=Reason.RESOLVED))
    (claimed,) = await claim(db)
    assert claimed.id == trigger
    assert await finish(db, (claimed, dead())) == [True]
    assert ids(await claim(db)) == [resolve]


async def test_the_rest_of_a_mail_group_is_claimed_with_its_first_row(db: Database) -> None:
    alerts = [await alert(db, f"Alert{n}") for n in range(4)]
    group = await add(db, *(planned(a, channel="mail", group_key="g1:mail:trigger")
                            for a in alerts[:3]))
    (next_group,) = await add(db, planned(alerts[3], channel="mail",
                                          group_key="g2:mail:trigger"))

    batch = await claim(db, limit=1, grouped=frozenset({"mail"}))
    assert ids(batch) == group  # the limit counts the first row; its group comes along
    assert {c.group_key for c in batch} == {"g1:mail:trigger"}
    assert ids(await claim(db, limit=1, grouped=frozenset({"mail"}))) == [next_group]


async def test_rows_of_a_channel_that_does_not_group_are_claimed_one_by_one(
        db: Database) -> None:
    alerts = [await alert(db, f"Alert{n}") for n in range(3)]
    rows = await add(db, *(planned(a, channel="mail", group_key="g1:mail:trigger")
                           for a in alerts))
    assert ids(await claim(db, limit=1)) == rows[:1]  # "mail" not among the grouped
    assert ids(await claim(db, limit=1, grouped=frozenset({"pd"}))) == rows[1:2]


# -- leases and who may record the result -----------------------------------------------------


async def test_an_expired_lease_is_taken_over_by_the_next_claim_with_a_new_token(
        db: Database) -> None:
    (notification,) = await add(db, planned(await alert(db, "Crash")))
    (first,) = await claim(db)
    assert await claim(db, NOW + LEASE - SECOND) == []  # still leased
    (second,) = await claim(db, NOW + LEASE + SECOND)
    assert second.id == notification
    assert second.token != first.token
    assert (first.attempts, second.attempts) == (1, 2)  # the lost claim counted
    taken = await row(db, notification)
    assert (taken.claim_token, taken.lease_until) == (second.token,
                                                      NOW + LEASE + SECOND + LEASE)


async def test_finish_with_a_stale_token_records_lease_lost_and_changes_nothing(
        db: Database) -> None:
    (notification,) = await add(db, planned(await alert(db, "Crash")))
    (stale,) = await claim(db)
    (current,) = await claim(db, NOW + LEASE + SECOND)
    before = await row(db, notification)

    assert await finish(db, (stale, sent())) == [False]
    after = await row(db, notification)
    assert (after.status, after.claim_token, after.lease_until, after.sent_at,
            after.last_error, after.attempts) == (
        outbox.PENDING, current.token, before.lease_until, None, None, 2)
    assert await attempts(db, notification) == ["lease_lost"]

    # the owner's result is recorded, in the same batch as another stale one
    assert await finish(db, (stale, dead()), (current, sent())) == [False, True]
    done = await row(db, notification)
    assert (done.status, done.claim_token, done.lease_until, done.sent_at) == (
        outbox.SENT, None, None, NOW + SECOND)
    assert await attempts(db, notification) == ["lease_lost", "lease_lost", "sent"]


@pytest.mark.parametrize(("outcome", "status", "recorded"), [
    (sent(), outbox.SENT, "sent"), (retry(), outbox.PENDING, "retry"),
    (dead(), outbox.DEAD, "dead"),
], ids=["sent", "retry", "dead"])
async def test_finish_by_the_owner_records_the_outcome_and_clears_the_lease(
        db: Database, outcome: outbox.Outcome, status: str, recorded: str) -> None:
    (notification,) = await add(db, planned(await alert(db, "Crash")))
    (claimed,) = await claim(db)
    assert await finish(db, (claimed, outcome)) == [True]
    done = await row(db, notification)
    assert (done.status, done.claim_token, done.lease_until) == (status, None, None)
    assert (done.last_error, done.last_status_code) == (outcome.error, outcome.status_code)
    assert done.sent_at == (outcome.finished_at if status == outbox.SENT else None)
    # a retry is due again when the outcome says; otherwise next_attempt_at stays
    assert done.next_attempt_at == (outcome.next_attempt_at or NOW)
    assert await attempts(db, notification) == [recorded]


async def test_finish_of_nothing_records_nothing(db: Database) -> None:
    assert await finish(db) == []


# -- retry_dead, superseded_by, depth -------------------------------------------------------


async def test_retry_dead_revives_only_a_dead_row(db: Database) -> None:
    alerts = [await alert(db, name) for name in ("Dead", "Pending", "Sent")]
    dead_id, pending_id, sent_id = await add(db, *(planned(a) for a in alerts))
    by_id = {c.id: c for c in await claim(db)}
    # "Pending" is to be retried in three hours: pending, and not due in this test
    assert await finish(db, (by_id[dead_id], dead()), (by_id[sent_id], sent()),
                        (by_id[pending_id], retry(after=timedelta(hours=3)))) == [True] * 3
    later = NOW + timedelta(hours=2)
    async with db.write() as session, session.begin():
        assert await outbox.retry_dead(session, dead_id, later)
        assert not await outbox.retry_dead(session, pending_id, later)
        assert not await outbox.retry_dead(session, sent_id, later)
        assert not await outbox.retry_dead(session, 10**9, later)
    revived = await row(db, dead_id)
    assert (revived.status, revived.attempts, revived.next_attempt_at, revived.created_at,
            revived.lease_until, revived.claim_token) == (
        outbox.PENDING, 0, later, later, None, None)
    untouched = await row(db, pending_id)
    assert (untouched.status, untouched.attempts, untouched.next_attempt_at) == (
        outbox.PENDING, 1, NOW + timedelta(hours=3))
    assert (await row(db, sent_id)).status == outbox.SENT
    assert ids(await claim(db, later)) == [dead_id]  # due again, a fresh attempt budget


async def test_superseded_by_names_a_later_row_of_the_alert_that_went_or_is_going_out(
        db: Database) -> None:
    crash, other = await alert(db, "Crash"), await alert(db, "Other")
    trigger, resolve = await add(
        db, planned(crash), planned(crash, action=Action.RESOLVE, reason=Reason.RESOLVED))
    (other_channel,) = await add(db, planned(crash, channel="mail", action=Action.RESOLVE,
                                              reason=Reason.RESOLVED))
    (other_alert,) = await add(db, planned(other))
    (claimed,) = [c for c in await claim(db) if c.id == trigger]
    assert await finish(db, (claimed, dead())) == [True]

    async def superseding(at: datetime = NOW) -> int | None:
        async with db.read() as session:
            dead_trigger = await session.get(NotificationRow, trigger)
            assert dead_trigger is not None
            later = await outbox.superseded_by(session, dead_trigger, at)
        return later.id if later is not None else None

    # the resolve is pending and nobody is sending it: retrying the trigger is safe
    assert await superseding() is None
    # sending it right now (leased) or sent: the trigger would overtake it
    (sending,) = [c for c in await claim(db) if c.id == resolve]
    assert await superseding() == resolve
    assert await superseding(NOW + LEASE + SECOND) is None  # a lease that ran out
    assert await finish(db, (sending, sent())) == [True]
    assert await superseding(NOW + timedelta(days=1)) == resolve
    # the rows on another channel and of another alert are leased now, yet never count
    assert other_channel > resolve and other_alert > resolve
    assert await superseding() == resolve


async def test_superseded_by_a_later_row_that_went_dead_is_nobody(db: Database) -> None:
    crash = await alert(db, "Crash")
    trigger, resolve = await add(
        db, planned(crash), planned(crash, action=Action.RESOLVE, reason=Reason.RESOLVED))
    (first,) = await claim(db)
    assert await finish(db, (first, dead())) == [True]
    (second,) = await claim(db)
    assert (first.id, second.id) == (trigger, resolve)
    assert await finish(db, (second, dead())) == [True]
    async with db.read() as session:
        dead_trigger = await session.get(NotificationRow, trigger)
        assert dead_trigger is not None
        assert await outbox.superseded_by(session, dead_trigger, NOW) is None


async def test_depth_counts_rows_by_status_and_ages_the_oldest_pending(db: Database) -> None:
    async with db.read() as session:
        assert await outbox.depth(session, NOW) == ({}, 0.0)
    alerts = [await alert(db, f"Alert{n}") for n in range(4)]
    oldest, _ = await add(db, planned(alerts[0]), planned(alerts[1]),
                          at=NOW - timedelta(minutes=10))
    done, gone = await add(db, planned(alerts[2]), planned(alerts[3]),
                           at=NOW - timedelta(minutes=5))
    by_id = {c.id: c for c in await claim(db)}
    assert await finish(db, (by_id[oldest], retry()), (by_id[done], sent()),
                        (by_id[gone], dead())) == [True, True, True]
    async with db.read() as session:
        assert await outbox.depth(session, NOW) == (
            {outbox.PENDING: 2, outbox.SENT: 1, outbox.DEAD: 1}, 600.0)
        # a clock behind the rows' own never gives a negative age
        assert await outbox.depth(session, NOW - timedelta(hours=1)) == (
            {outbox.PENDING: 2, outbox.SENT: 1, outbox.DEAD: 1}, 0.0)


async def test_add_of_nothing_writes_nothing(db: Database) -> None:
    async with db.write() as session, session.begin():
        assert await outbox.add(session, [], NOW) == 0
    async with db.read() as session:
        assert await outbox.depth(session, NOW) == ({}, 0.0)

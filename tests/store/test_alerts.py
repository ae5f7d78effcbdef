"""The alert repositories on their own (both databases): the writes of ``store/alerts.py``
and the reads of ``store/states.py`` that the ingest path is built on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from aggregator.model import Alert, Severity, Source, Status
from aggregator.store import alerts, states
from aggregator.store.db import Database
from aggregator.store.records import ContentChange, NewEpisode, NewEvent, Resolution
from aggregator.store.tables import AlertEventRow, AlertRow
from tests.factories import alert

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=5)


def _alert(n: int, *, ref: str | None = None) -> Alert:
    return alert(n, source=Source.AZURE_MONITOR, source_ref=ref or f"ref-{n}",
                 severity=Severity.WARNING, summary=f"summary {n}", starts_at=T0)


def _episode(n: int, **changes: object) -> NewEpisode:
    alert = _alert(n)
    values: dict[str, object] = {
        "id": uuid.uuid4(), "fingerprint": f"fp-{n}", "alert": alert, "status": alert.status,
        "ends_at": None, "received_at": T0, "expires_at": None, **changes}
    return NewEpisode(**values)  # type: ignore[arg-type]


async def _insert(db: Database, *episodes: NewEpisode) -> None:
    async with db.write() as session, session.begin():
        await alerts.insert_episodes(session, list(episodes))


async def _row(db: Database, alert_id: uuid.UUID) -> AlertRow:
    async with db.read() as session, session.begin():
        row = await session.get(AlertRow, alert_id)
    assert row is not None
    return row


async def _repeat_events(db: Database, alert_id: uuid.UUID) -> list[tuple[int, int | None]]:
    async with db.read() as session, session.begin():
        rows = await session.execute(
            select(AlertEventRow.count, AlertEventRow.bucket)
            .where(AlertEventRow.alert_id == alert_id, AlertEventRow.kind == "repeat")
            .order_by(AlertEventRow.bucket))
        return [(row.count, row.bucket) for row in rows]


async def test_inserted_episode_reads_back_as_its_state(db: Database) -> None:
    episode = _episode(1, notified={"pd": {"at": T0.isoformat()}}, occurrences=3)
    await _insert(db, episode)
    async with db.read() as session, session.begin():
        found = await states.load_states(session, [("fp-1", "ref-1"), ("fp-2", "ref-2")])
    assert set(found) == {"fp-1", "fp-2"}
    assert found["fp-2"].open is None and not found["fp-2"].by_ref
    stored = found["fp-1"].open
    assert stored is not None
    assert (stored.id, stored.status, stored.occurrences, stored.notified) == (
        episode.id, Status.FIRING, 3, {"pd": {"at": T0.isoformat()}})
    assert found["fp-1"].by_ref == {"ref-1": stored}
    row = await _row(db, episode.id)
    assert (row.name, row.summary, row.first_received_at, row.last_received_at) == (
        "Alert1", "summary 1", T0, T0)


async def test_last_ended_is_the_latest_resolved_episode(db: Database) -> None:
    older = _episode(1, status=Status.RESOLVED, ends_at=T0, alert=_alert(1, ref="a"))
    newer = _episode(1, status=Status.RESOLVED, ends_at=T0 + timedelta(hours=1),
                     alert=_alert(1, ref="b"))
    await _insert(db, older, newer)
    async with db.read() as session, session.begin():
        found = await states.load_states(session, [("fp-1", "other")])
    last = found["fp-1"].last_ended
    assert last is not None and last.id == newer.id
    assert found["fp-1"].open is None


async def test_bump_counts_deliveries_and_pushes_expiry_only_where_set(db: Database) -> None:
    expiring = _episode(1, expires_at=T0 + timedelta(hours=24))
    lasting = _episode(2)
    await _insert(db, expiring, lasting)
    later = T0 + timedelta(minutes=3)
    async with db.write() as session, session.begin():
        await alerts.bump(session, {expiring.id: 2, lasting.id: 5}, later,
                          later + timedelta(hours=24))
    first, second = await _row(db, expiring.id), await _row(db, lasting.id)
    assert (first.occurrences, first.last_received_at) == (3, later)
    assert first.expires_at == later + timedelta(hours=24)
    assert (second.occurrences, second.expires_at) == (6, None)


async def test_repeats_coalesce_into_one_event_per_interval(db: Database) -> None:
    episode = _episode(1)
    await _insert(db, episode)
    for at, n in ((T0, 2), (T0 + timedelta(minutes=1), 3), (T0 + INTERVAL, 1)):
        async with db.write() as session, session.begin():
            await alerts.add_repeats(session, {episode.id: n}, at, INTERVAL)
    bucket = int(T0.timestamp() // INTERVAL.total_seconds())
    assert await _repeat_events(db, episode.id) == [(5, bucket), (1, bucket + 1)]


async def test_resolve_clears_the_acknowledgement(db: Database) -> None:
    episode = _episode(1)
    await _insert(db, episode)
    async with db.write() as session, session.begin():
        await alerts.set_acknowledgement(session, episode.id, "alice", T0)
    assert (await _row(db, episode.id)).acknowledged_by == "alice"
    ended = T0 + timedelta(minutes=9)
    async with db.write() as session, session.begin():
        await alerts.resolve(session, [Resolution(episode.id, ended)])
    row = await _row(db, episode.id)
    assert (row.status, row.ends_at, row.resolved_reason) == ("resolved", ended, "source")
    assert row.acknowledged_at is None and row.acknowledged_by is None


async def test_change_replaces_the_content_and_mark_the_planner_state(db: Database) -> None:
    episode = _episode(1)
    await _insert(db, episode)
    moved = _alert(1).model_copy(update={"severity": Severity.CRITICAL, "summary": "worse"})
    silence = uuid.uuid4()
    async with db.write() as session, session.begin():
        await alerts.change(session, [ContentChange(episode.id, Status.FIRING, moved)])
        await alerts.mark(session, {episode.id: {"mail": {"at": "x"}}}, {episode.id: silence})
    row = await _row(db, episode.id)
    assert (row.severity, row.summary) == ("critical", "worse")
    assert (row.notified, row.silenced_by) == ({"mail": {"at": "x"}}, silence)


async def test_events_are_written_as_given(db: Database) -> None:
    episode = _episode(1)
    await _insert(db, episode)
    async with db.write() as session, session.begin():
        await alerts.add_events(session, [NewEvent(episode.id, "opened", T0, {"k": 1}),
                                          NewEvent(episode.id, "stale", T0, {})])
        kinds = (await session.scalars(select(AlertEventRow.kind)
                                       .where(AlertEventRow.alert_id == episode.id)
                                       .order_by(AlertEventRow.id))).all()
    assert kinds == ["opened", "stale"]


async def test_expire_due_resolves_only_what_passed_its_expiry(db: Database) -> None:
    due = _episode(1, expires_at=T0)
    not_yet = _episode(2, expires_at=T0 + timedelta(hours=1))
    await _insert(db, due, not_yet)
    async with db.write() as session, session.begin():
        expired = await alerts.expire_due(session, T0 + timedelta(minutes=1), 10)
    assert [row.id for row in expired] == [due.id]
    assert (expired[0].status, expired[0].resolved_reason, expired[0].ends_at) == (
        "resolved", "expired", T0)
    assert (await _row(db, not_yet.id)).status == "firing"
    async with db.read() as session, session.begin():
        count = await session.scalar(select(func.count()).select_from(AlertEventRow)
                                     .where(AlertEventRow.kind == "expired"))
    assert count == 1


async def test_open_fingerprints_finds_open_episodes_by_their_id(db: Database) -> None:
    open_one = _episode(1, alert=_alert(1, ref="shared-ref"))
    closed = _episode(2, alert=_alert(2, ref="closed-ref"), status=Status.RESOLVED,
                      ends_at=T0)
    await _insert(db, open_one, closed)
    async with db.read() as session, session.begin():
        found = await states.open_fingerprints(session, [
            ("azure_monitor", "shared-ref"), ("azure_monitor", "closed-ref"),
            ("alertmanager", "shared-ref")])
    assert found == {("azure_monitor", "shared-ref"): "fp-1"}

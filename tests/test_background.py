"""Expiry of alerts that never auto-resolve, and retention in bounded batches."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from aggregator.background import run_once
from aggregator.config.service import Settings
from aggregator.model import Alert, Severity, Source, Status
from aggregator.pipeline.ingest import ingest
from aggregator.store.db import Database
from aggregator.store.tables import AlertEventRow, AlertRow, RejectedPayloadRow
from tests.factories import alert

T0 = datetime(2026, 11, 1, tzinfo=UTC)



# An Azure log alert: stateless unless a test says otherwise (no resolve ever comes).
log_alert = functools.partial(alert, source=Source.AZURE_MONITOR, severity=Severity.WARNING,
                              starts_at=T0, auto_resolves=False)


async def _ingest(db: Database, alerts: list[Alert], at: datetime) -> None:
    await ingest(db.write, alerts, received_at=at, repeat_event_interval=timedelta(minutes=5),
                 expire_after=timedelta(hours=24))


async def _statuses(db: Database) -> dict[str, tuple[str, str | None]]:
    async with db.read() as session:
        rows = (await session.execute(
            select(AlertRow.name, AlertRow.status, AlertRow.resolved_reason))).all()
    return {row.name: (row.status, row.resolved_reason) for row in rows}


async def test_alert_without_auto_resolve_expires_after_its_last_delivery(db: Database) -> None:
    settings = Settings(expire_after=timedelta(hours=24))
    await _ingest(db, [log_alert(1, name="log rule 1"),
                     log_alert(2, name="log rule 2", auto_resolves=True)], T0)
    # pushes expiry on
    await _ingest(db, [log_alert(1, name="log rule 1")], T0 + timedelta(hours=20))
    assert await run_once(db, settings, T0 + timedelta(hours=30)) == (0, 0)
    assert (await _statuses(db))["log rule 1"] == ("firing", None)
    assert await run_once(db, settings, T0 + timedelta(hours=45)) == (1, 0)
    statuses = await _statuses(db)
    assert statuses["log rule 1"] == ("resolved", "expired")
    assert statuses["log rule 2"] == ("firing", None)  # the source resolves it itself
    async with db.read() as session:
        kinds = (await session.scalars(select(AlertEventRow.kind))).all()
    assert "expired" in kinds
    # a new firing after expiry opens a new episode
    await _ingest(db, [log_alert(1, name="log rule 1", starts_at=T0 + timedelta(hours=46))],
                  T0 + timedelta(hours=46))
    async with db.read() as session:
        count = await session.scalar(select(func.count()).where(AlertRow.name == "log rule 1"))
    assert count == 2


async def test_retention_deletes_old_resolved_alerts_in_batches(db: Database) -> None:
    settings = Settings(retention=timedelta(days=90), housekeeping_batch_size=3,
                        expire_after=timedelta(0))
    old = [log_alert(n, name=f"log rule {n}", status=Status.RESOLVED, auto_resolves=True)
           for n in range(7)]
    await _ingest(db, old, T0)
    # old but still firing
    await _ingest(db, [log_alert(100, name="log rule 100", auto_resolves=True)], T0)
    recent = T0 + timedelta(days=100)
    # resolved recently: kept
    await _ingest(db, [log_alert(200, name="log rule 200", status=Status.RESOLVED,
                                 auto_resolves=True, starts_at=recent)], recent)
    async with db.write() as session, session.begin():
        session.add(RejectedPayloadRow(
            received_at=T0, source="alertmanager", status_code=400, reason="x", field=None,
            content_type="", remote="", headers={}, body=b"x", body_size=1))
    expired, deleted = await run_once(db, settings, T0 + timedelta(days=101))
    assert (expired, deleted) == (0, 8)
    assert set(await _statuses(db)) == {"log rule 100", "log rule 200"}
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(RejectedPayloadRow)) == 0
        orphans = await session.scalar(select(func.count()).select_from(AlertEventRow).where(
            AlertEventRow.alert_id.not_in(select(AlertRow.id))))
    assert orphans == 0


async def test_expiry_resolves_on_the_channels_that_got_the_firing(db: Database) -> None:
    from aggregator.config.routing import NotificationSettings
    from aggregator.store.tables import NotificationRow

    routes = NotificationSettings()  # default route: the log channel
    await ingest(db.write, [log_alert(7, name="log rule 7")], received_at=T0,
                 repeat_event_interval=timedelta(minutes=5), expire_after=timedelta(hours=24),
                 notifications=routes)
    settings = Settings(expire_after=timedelta(hours=24), notifications=routes)
    assert await run_once(db, settings, T0 + timedelta(hours=25)) == (1, 0)
    async with db.read() as session:
        rows = (await session.execute(
            select(NotificationRow.channel, NotificationRow.action, NotificationRow.reason)
            .order_by(NotificationRow.id))).all()
    assert [tuple(r) for r in rows] == [("log", "trigger", "new"),
                                        ("log", "resolve", "expired")]

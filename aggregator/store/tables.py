"""The database schema: alerts (one row per episode), their event log, rejected payloads.

Constraint names come from the naming convention. The schema is created only by the
alembic migrations in ``aggregator/migrations``; tests check the two agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aggregator.store.types import BigId, JSONType, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class (for statements built once and cached)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class AlertRow(Base):
    """One episode of one problem. At most one row per fingerprint is firing."""

    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    source_ref: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    resource: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, str]] = mapped_column(JSONType)
    annotations: Mapped[dict[str, str]] = mapped_column(JSONType)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSONType)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    first_received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    occurrences: Mapped[int] = mapped_column(Integer)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    silenced_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # channel -> {"at": iso time of the last trigger written, "send_resolved": bool}
    notified: Mapped[dict[str, Any]] = mapped_column(JSONType, server_default=text("'{}'"))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        # At most one open alert per fingerprint, whatever the replicas do.
        Index(
            "uq_alerts_open_fingerprint",
            "fingerprint",
            unique=True,
            postgresql_where=text("status = 'firing'"),
            sqlite_where=text("status = 'firing'"),
        ),
        Index("ix_alerts_fingerprint_source_ref", "fingerprint", "source_ref"),
        Index("ix_alerts_fingerprint_status_ends_at", "fingerprint", "status", "ends_at"),
        Index("ix_alerts_first_received_at_id", "first_received_at", "id"),
        Index("ix_alerts_status_first_received_at", "status", "first_received_at"),
        Index("ix_alerts_severity_first_received_at", "severity", "first_received_at"),
        Index("ix_alerts_source_first_received_at", "source", "first_received_at"),
        Index("ix_alerts_expires_at", "expires_at",
              postgresql_where=text("status = 'firing'"), sqlite_where=text("status = 'firing'")),
        # Retention finds old resolved alerts here. Nothing indexes last_received_at or
        # occurrences, so a repeat is a heap-only update (migration 0004; fillfactor 80).
        Index("ix_alerts_resolved_ends_at", "ends_at",
              postgresql_where=text("status = 'resolved'"),
              sqlite_where=text("status = 'resolved'")),
        # A resolve finds the open episode it names by its id alone (migration 0005).
        Index("ix_alerts_open_source_ref", "source_ref",
              postgresql_where=text("status = 'firing'"), sqlite_where=text("status = 'firing'")),
        Index("ix_alerts_silenced_by", "silenced_by",
              postgresql_where=text("silenced_by IS NOT NULL"),
              sqlite_where=text("silenced_by IS NOT NULL")),
        Index("ix_alerts_acknowledged_at", "acknowledged_at"),
        # Label filters use JSONB containment on PostgreSQL; SQLite scans.
        Index("ix_alerts_labels", "labels", postgresql_using="gin",
              postgresql_ops={"labels": "jsonb_path_ops"}).ddl_if(dialect="postgresql"),
    )


class AlertEventRow(Base):
    """Append-only history of an alert. Repeats share one row per time bucket (``count``)."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("alerts.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    bucket: Mapped[int | None] = mapped_column(BigId, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_alert_events_alert_id_id", "alert_id", "id"),
        Index(
            "uq_alert_events_alert_id_bucket",
            "alert_id",
            "bucket",
            unique=True,
            postgresql_where=text("bucket IS NOT NULL"),
            sqlite_where=text("bucket IS NOT NULL"),
        ),
    )


class RejectedPayloadRow(Base):
    """A body the service refused, kept for inspection and replay (headers minus secrets)."""

    __tablename__ = "rejected_payloads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(32))
    status_code: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_type: Mapped[str] = mapped_column(String(256))
    remote: Mapped[str] = mapped_column(String(256))
    headers: Mapped[dict[str, str]] = mapped_column(JSONType)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_size: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_rejected_payloads_received_at_id", "received_at", "id"),)


class NotificationRow(Base):
    """The outbox: one row per (alert change, channel), written in the ingest transaction."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("alerts.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    group_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_notifications_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_notifications_fingerprint_channel_id", "fingerprint", "channel", "id"),
        Index("ix_notifications_alert_id_id", "alert_id", "id"),
        Index("ix_notifications_status_id", "status", "id"),
        Index("ix_notifications_group_key", "group_key"),
    )


class NotificationAttemptRow(Base):
    """One try at sending a notification: when, how long, what came back."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("notifications.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_notification_attempts_notification_id_id", "notification_id", "id"),
    )


class SilenceRow(Base):
    """Matchers that keep alerts from notifying between ``starts_at`` and ``ends_at``."""

    __tablename__ = "silences"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    matchers: Mapped[dict[str, Any]] = mapped_column(JSONType)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)

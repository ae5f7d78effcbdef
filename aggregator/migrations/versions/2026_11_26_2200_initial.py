"""Initial schema: alerts, alert_events, rejected_payloads.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-26 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from aggregator.store.types import BigId, JSONType, UtcDateTime

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("source_ref", sa.String(512), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("labels", JSONType, nullable=False),
        sa.Column("annotations", JSONType, nullable=False),
        sa.Column("links", JSONType, nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=True),
        sa.Column("resolved_reason", sa.String(32), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("first_received_at", UtcDateTime(), nullable=False),
        sa.Column("last_received_at", UtcDateTime(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", UtcDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(256), nullable=True),
        sa.Column("raw", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(
        "uq_alerts_open_fingerprint", "alerts", ["fingerprint"], unique=True,
        postgresql_where=sa.text("status = 'firing'"), sqlite_where=sa.text("status = 'firing'"),
    )
    op.create_index("ix_alerts_fingerprint_source_ref", "alerts", ["fingerprint", "source_ref"])
    op.create_index(
        "ix_alerts_fingerprint_status_ends_at", "alerts", ["fingerprint", "status", "ends_at"]
    )
    op.create_index("ix_alerts_first_received_at_id", "alerts", ["first_received_at", "id"])
    op.create_index("ix_alerts_status_first_received_at", "alerts", ["status", "first_received_at"])
    op.create_index(
        "ix_alerts_severity_first_received_at", "alerts", ["severity", "first_received_at"]
    )
    op.create_index("ix_alerts_source_first_received_at", "alerts", ["source", "first_received_at"])
    op.create_index(
        "ix_alerts_expires_at", "alerts", ["expires_at"],
        postgresql_where=sa.text("status = 'firing'"), sqlite_where=sa.text("status = 'firing'"),
    )
    op.create_index(
        "ix_alerts_status_last_received_at", "alerts", ["status", "last_received_at"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_alerts_labels", "alerts", ["labels"], postgresql_using="gin",
            postgresql_ops={"labels": "jsonb_path_ops"},
        )

    op.create_table(
        "alert_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("bucket", BigId, nullable=True),
        sa.Column("detail", JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_events_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert_id_id", "alert_events", ["alert_id", "id"])
    op.create_index(
        "uq_alert_events_alert_id_bucket", "alert_events", ["alert_id", "bucket"], unique=True,
        postgresql_where=sa.text("bucket IS NOT NULL"), sqlite_where=sa.text("bucket IS NOT NULL"),
    )

    op.create_table(
        "rejected_payloads",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("content_type", sa.String(256), nullable=False),
        sa.Column("remote", sa.String(256), nullable=False),
        sa.Column("headers", JSONType, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_payloads")),
    )
    op.create_index(
        "ix_rejected_payloads_received_at_id", "rejected_payloads", ["received_at", "id"]
    )


def downgrade() -> None:
    op.drop_table("rejected_payloads")
    op.drop_table("alert_events")
    op.drop_table("alerts")

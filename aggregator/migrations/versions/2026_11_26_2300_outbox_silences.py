"""Outbox (notifications, attempts), silences, alert notification state.

Revision ID: 0002_outbox_silences
Revises: 0001_initial
Create Date: 2026-11-26 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from aggregator.store.types import BigId, JSONType, UtcDateTime

revision: str = "0002_outbox_silences"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("silenced_by", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("notified", JSONType, server_default=sa.text("'{}'"),
                                   nullable=False))
    op.create_index(
        "ix_alerts_silenced_by", "alerts", ["silenced_by"],
        postgresql_where=sa.text("silenced_by IS NOT NULL"),
        sqlite_where=sa.text("silenced_by IS NOT NULL"),
    )
    op.create_index("ix_alerts_acknowledged_at", "alerts", ["acknowledged_at"])

    op.create_table(
        "notifications",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("group_key", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("snapshot", JSONType, nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"],
                                name=op.f("fk_notifications_alert_id_alerts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_due", "notifications", ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_notifications_fingerprint_channel_id", "notifications",
                    ["fingerprint", "channel", "id"])
    op.create_index("ix_notifications_alert_id_id", "notifications", ["alert_id", "id"])
    op.create_index("ix_notifications_status_id", "notifications", ["status", "id"])
    op.create_index("ix_notifications_group_key", "notifications", ["group_key"])

    op.create_table(
        "notification_attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("notification_id", BigId, nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["notifications.id"],
            name=op.f("fk_notification_attempts_notification_id_notifications"),
            ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
    )
    op.create_index("ix_notification_attempts_notification_id_id", "notification_attempts",
                    ["notification_id", "id"])

    op.create_table(
        "silences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("matchers", JSONType, nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    op.drop_table("silences")
    op.drop_table("notification_attempts")
    op.drop_table("notifications")
    op.drop_index("ix_alerts_acknowledged_at", table_name="alerts")
    op.drop_index("ix_alerts_silenced_by", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("notified")
        batch.drop_column("silenced_by")

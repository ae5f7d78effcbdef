"""Repeats update alerts in place: no index on ``last_received_at``, room left in each page.

Most deliveries are repeats, and a repeat updates its alert's ``occurrences`` and
``last_received_at``. PostgreSQL can make that a heap-only (HOT) update, which writes no
index entries, only when no indexed column changes and the page has room; the index on
``(status, last_received_at)`` forbade it, so every repeat wrote a new entry in each of the
table's dozen indexes. Retention, its user, now finds old resolved alerts by ``ends_at``
(when they resolved) through a partial index, and ``alerts`` keeps 20 % of each page free
(``fillfactor`` 80) for the new row versions. SQLite has neither notion: only the index
changes there.

Revision ID: 0004_hot_repeats
Revises: 0003_alert_text_search
Create Date: 2026-11-27 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_hot_repeats"
down_revision: str | None = "0003_alert_text_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOLVED = sa.text("status = 'resolved'")


def upgrade() -> None:
    op.drop_index("ix_alerts_status_last_received_at", table_name="alerts")
    op.create_index("ix_alerts_resolved_ends_at", "alerts", ["ends_at"],
                    postgresql_where=RESOLVED, sqlite_where=RESOLVED)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts RESET (fillfactor)")
    op.drop_index("ix_alerts_resolved_ends_at", table_name="alerts")
    op.create_index("ix_alerts_status_last_received_at", "alerts",
                    ["status", "last_received_at"])

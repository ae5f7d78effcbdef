"""Open alerts indexed by their episode id alone.

A resolve may leave out a field its firing carried and the identity hashes (an Azure
``Resolved`` without ``alertTargetIDs``); the same episode id (``essentials.alertId``) is
the same alert, so ingest looks open episodes up by ``source_ref`` across fingerprints.
Partial (``status = 'firing'``): only open rows are looked for, and repeats, which do not
change ``source_ref`` or ``status``, stay heap-only updates.

Revision ID: 0005_open_source_ref
Revises: 0004_hot_repeats
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_open_source_ref"
down_revision: str | None = "0004_hot_repeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRING = sa.text("status = 'firing'")


def upgrade() -> None:
    op.create_index("ix_alerts_open_source_ref", "alerts", ["source_ref"],
                    postgresql_where=FIRING, sqlite_where=FIRING)


def downgrade() -> None:
    op.drop_index("ix_alerts_open_source_ref", table_name="alerts")

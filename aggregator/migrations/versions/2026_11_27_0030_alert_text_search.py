"""Text search: trigram indexes on alerts.name and alerts.summary (PostgreSQL, pg_trgm).

``GET /api/v1/alerts?q=`` is a case-insensitive substring match (ILIKE) on the name or the
summary. Without an index a term that few alerts contain reads the whole table (230 ms at
100,000 alerts, growing with the history); pg_trgm's GIN operator class serves
``ILIKE '%term%'`` for terms of three characters or more.

pg_trgm is used where it already is (in any schema: the operator class is named with its
schema, since the service's search_path may hold only its own schema), else created in
``public``, where dropping the service's schema does not take it (and the indexes of
every other schema using it) along, or failing that in the current schema. Where it
cannot be created (no privilege; on Azure Database for PostgreSQL, PG_TRGM missing from
the ``azure.extensions`` server parameter) the indexes are skipped with a warning and
``q`` keeps working by scanning. The indexes are therefore not
declared in ``tables.py``. The build locks writes to ``alerts`` for its duration (about
3 s per 100,000 alerts on a small server); SQLite: nothing to do.

Revision ID: 0003_alert_text_search
Revises: 0002_outbox_silences
Create Date: 2026-11-27 00:30:00
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0003_alert_text_search"
down_revision: str | None = "0002_outbox_silences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

#: index name -> column; created only on PostgreSQL where pg_trgm is available
TRGM_INDEXES = {"ix_alerts_name_trgm": "name", "ix_alerts_summary_trgm": "summary"}

_EXTENSION_SCHEMA = sa.text(
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'pg_trgm'")


def _extension_schema(bind: Connection) -> str | None:
    schema: str | None = bind.execute(_EXTENSION_SCHEMA).scalar()
    return schema


def _trgm_schema(bind: Connection) -> str | None:
    """The schema pg_trgm lives in, creating it if need be; None where it cannot be had."""
    schema = _extension_schema(bind)
    if schema is not None:
        return schema
    failure = ""
    for statement in ("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
                      "CREATE EXTENSION IF NOT EXISTS pg_trgm"):
        try:
            with bind.begin_nested():
                bind.execute(sa.text(statement))
        except sa.exc.DBAPIError as exc:
            failure = str(exc.orig).strip().splitlines()[0]
            continue
        schema = _extension_schema(bind)
        if schema is not None:
            return schema
    log.warning("pg_trgm is not available, so q= searches scan the alerts: %s", failure)
    return None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = _trgm_schema(bind)
    if schema is None:
        return
    opclass = f"{bind.dialect.identifier_preparer.quote(schema)}.gin_trgm_ops"
    for name, column in TRGM_INDEXES.items():
        op.create_index(name, "alerts", [column], postgresql_using="gin",
                        postgresql_ops={column: opclass})


def downgrade() -> None:
    # The extension stays: other schemas or applications may use it.
    if op.get_bind().dialect.name == "postgresql":
        for name in TRGM_INDEXES:
            op.drop_index(name, table_name="alerts", if_exists=True)

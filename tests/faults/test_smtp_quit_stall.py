"""An SMTP server that accepts a mail (``250`` to DATA) and then stalls on QUIT: the mail
is delivered, so it must be recorded as sent and never sent again.

It once did not: the worker bounded the whole send (courtesy QUIT included) by half the
lease, so a QUIT that stalled past that budget made an accepted mail count as failed and go
out again. Now QUIT has a short bound of its own, the worker waits for each channel's
declared worst case (``max_send_seconds``), and the settings refuse a channel timeout that
does not fit in half the lease. Scaled down here: ``lease`` 3 s, so the stalled QUIT (2 s,
its own bound) outlasts half the lease (1.5 s), the budget the old worker cut the send at;
``timeout`` 5 s, so a loaded machine gets through connect..DATA well within it (a client
timeout after the server took the mail would be a legitimate resend).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aggregator.channels import configure
from aggregator.channels.email import QUIT_TIMEOUT, EmailChannel, EmailConfig
from aggregator.config.routing import NotificationSettings
from aggregator.config.service import DeliverySettings, Settings
from aggregator.delivery.worker import Worker
from aggregator.metrics import Metrics
from aggregator.pipeline.ingest import ingest
from aggregator.store import migrate
from aggregator.store.db import Database, make_database
from aggregator.store.tables import NotificationRow
from tests.factories import alert
from tests.faults.smtp_stall import QuitStallingSmtp


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = make_database(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"))
    await migrate.upgrade(database.engine)
    yield database
    await database.engine.dispose()


@pytest.fixture
async def stall() -> AsyncIterator[QuitStallingSmtp]:
    server = await QuitStallingSmtp().start()
    yield server
    await server.close()


def clock() -> datetime:
    return datetime.now(UTC)


async def test_mail_accepted_then_quit_stalls_is_sent_once(
    db: Database, stall: QuitStallingSmtp
) -> None:
    notifications = NotificationSettings.model_validate({
        "channels": {"mail": {"type": "email", "host": "127.0.0.1", "port": stall.port,
                              "security": "none", "from": "alerts@example.com",
                              "to": ["oncall@example.com"], "timeout": 5.0}},
        "default_route": {"channels": ["mail"]},
    })
    settings = DeliverySettings(lease=timedelta(seconds=3),
                                backoff_initial=timedelta(milliseconds=50),
                                backoff_max=timedelta(milliseconds=100))
    config = configure(notifications)["mail"]
    assert isinstance(config, EmailConfig)
    channel = EmailChannel("mail", config)
    # The premise: the stalled QUIT outlasts half the lease, where the old worker cut a send.
    quit_stall = min(config.timeout, QUIT_TIMEOUT)
    assert quit_stall > settings.lease.total_seconds() / 2
    worker = Worker(db, {"mail": channel}, settings, Metrics(), clock)
    await ingest(db.write, [alert(name="QuitStall", summary="quit stalls")], received_at=clock(),
                 repeat_event_interval=timedelta(minutes=5),
                 expire_after=timedelta(hours=24), notifications=notifications)
    try:
        async with asyncio.timeout(15):
            while True:
                await worker.run_once()
                async with db.read() as session:
                    status = await session.scalar(select(NotificationRow.status))
                if status != "pending":
                    break
                await asyncio.sleep(0.05)
    finally:
        await worker.aclose()
    assert stall.quits >= 1  # the server did stall on QUIT
    assert status == "sent"
    assert len(stall.messages) == 1, f"the mail went out {len(stall.messages)} times"

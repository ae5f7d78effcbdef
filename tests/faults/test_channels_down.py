"""PagerDuty and SMTP both unreachable for a while: alerts keep being accepted (202), the
worker retries with backoff, and once both are back every notification goes out exactly
once and none is dead."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.channels import configure
from aggregator.channels.email import EmailChannel
from aggregator.channels.log import LogChannel
from aggregator.channels.pagerduty import PagerDutyChannel
from aggregator.config.routing import NotificationSettings
from aggregator.config.service import DeliverySettings
from tests.conftest import DATABASES, PG_URL
from tests.fakes.pagerduty import ROUTING_KEY, pagerduty_fake
from tests.fakes.smtp import SmtpServer
from tests.faults.helpers import AM, am_message, client_pages, pg_schema, running_app
from tests.helpers import eventually

ALERTS = 12
FAST = DeliverySettings(poll_interval=timedelta(milliseconds=50),
                        backoff_initial=timedelta(milliseconds=50),
                        backoff_max=timedelta(milliseconds=250),
                        # half of it fits each channel's longest send (mail 5 s + 2 s QUIT,
                        # PagerDuty 5 s + 1, each + 1 s); a lease only matters when a send
                        # outlives it, which no send does here
                        lease=timedelta(seconds=16))
SUBJECT = re.compile(r"\[FIRING:1\] (\S+) ")


@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path) -> Any:
    if kind == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'channels.db'}"}
        return
    async with pg_schema() as schema:
        yield {"database_url": PG_URL, "database_schema": schema}


@pytest.mark.parametrize("kind", DATABASES)
async def test_pagerduty_and_smtp_down_then_everything_delivered_once(
    kind: str, tmp_path: Path
) -> None:
    with SmtpServer() as smtp:
        async with pagerduty_fake() as pd, database(kind, tmp_path) as db:
            notifications = NotificationSettings.model_validate({
                # Timeouts of seconds: after the recovery up to 8 sends run at once on a
                # possibly loaded machine, and a reply lost to a client timeout after the
                # target took the event or mail is a legitimate resend (sent twice).
                "channels": {"pd": {"type": "pagerduty", "routing_key": ROUTING_KEY,
                                    "timeout": 5.0},
                             "mail": smtp.email_config(timeout=5.0)},
                "routes": [{"match": {"min_severity": "critical"}, "channels": ["pd", "mail"]}],
            })
            configs = configure(notifications)
            channels = {
                "pd": PagerDutyChannel("pd", configs["pd"],  # type: ignore[arg-type]
                                       transport=pd.transport()),
                "mail": EmailChannel("mail", configs["mail"]),  # type: ignore[arg-type]
                "log": LogChannel("log"),
            }
            async with running_app(channels, notifications=notifications, delivery=FAST,
                                   **db) as client:
                await pd.down()
                smtp.down()
                names = [f"ChannelsDown{n}" for n in range(ALERTS)]
                for name in names:
                    response = await client.post(AM, json=am_message(name))
                    assert response.status == 202, await response.text()

                async def failed_attempts() -> bool:
                    items = await client_pages(client, "/api/v1/notifications", status="pending")
                    return len(items) == 2 * ALERTS and all(i["attempts"] >= 2 for i in items)

                # Both channels fail for a while: every notification is retried, none sent.
                await eventually(failed_attempts, timeout=15, what="two failed attempts each")
                assert pd.events == [] and smtp.messages == []

                await pd.up()
                smtp.up()
                await eventually(lambda: len(pd.events) >= ALERTS
                                 and len(smtp.messages) >= ALERTS,
                                 timeout=20, what="every page and mail after recovery")

                async def all_sent() -> bool:
                    items = await client_pages(client, "/api/v1/notifications")
                    return len(items) == 2 * ALERTS and all(i["status"] == "sent" for i in items)

                await eventually(all_sent, timeout=10, what="every notification sent")
                await asyncio.sleep(0.6)  # anything sent twice would show up by now

                stored = {item["fingerprint"]: item["name"]
                          for item in await client_pages(client, "/api/v1/alerts")}
                assert sorted(stored.values()) == sorted(names)
                triggers = collections.Counter(stored[e["dedup_key"]] for e in pd.events
                                               if e["event_action"] == "trigger")
                assert triggers == dict.fromkeys(names, 1)
                assert len(pd.events) == ALERTS
                mails = collections.Counter(
                    m.group(1) for m in (SUBJECT.search(msg.subject) for msg in smtp.messages)
                    if m is not None)
                assert mails == dict.fromkeys(names, 1), [m.subject for m in smtp.messages]
                assert len(smtp.messages) == ALERTS
                dead = await client_pages(client, "/api/v1/notifications", status="dead")
                assert dead == []

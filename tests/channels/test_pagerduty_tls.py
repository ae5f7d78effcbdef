"""PagerDutyChannel over real TLS to the HTTPS PagerDuty fake: ``ca_file`` decides whom the
client trusts (no transport override: the client's own https connection is exercised)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.channels import configure
from aggregator.channels.log import LogChannel
from aggregator.channels.pagerduty import PagerDutyChannel, PagerDutyConfig
from aggregator.channels.tls import ca_bundle_context
from aggregator.config.routing import NotificationSettings
from aggregator.config.service import DeliverySettings
from aggregator.errors import RetryableError
from aggregator.model import Severity
from aggregator.notice import Action, Notice
from tests.factories import notice, snapshot
from tests.fakes.pagerduty import PagerDutyFake, pagerduty_fake
from tests.fakes.smtp import Certificate, make_certificate
from tests.faults.helpers import AM, am_message, client_pages, running_app
from tests.helpers import eventually

STARTS_AT = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
CERT_FAILURE = "certificate verification failed"



@pytest.fixture
async def fake(certificate: Certificate) -> AsyncIterator[PagerDutyFake]:
    async with pagerduty_fake(certificate=certificate) as server:
        yield server


NODE_DOWN = snapshot("NodeNotReady", fingerprint="tls-" + "ab" * 16,
                     severity=Severity.CRITICAL, summary="Node aks-1 is not ready",
                     resource="aks-1", starts_at=STARTS_AT)


async def send(config: PagerDutyConfig, sent: Notice | None = None) -> None:
    channel = PagerDutyChannel("pd", config)
    try:
        await channel.send(sent or notice(NODE_DOWN, channel="pd"))
    finally:
        await channel.aclose()


async def test_the_fake_serves_https_on_loopback(fake: PagerDutyFake) -> None:
    assert fake.url == f"https://127.0.0.1:{fake.port}"


async def test_ca_file_makes_the_private_certificate_trusted(fake: PagerDutyFake) -> None:
    config = PagerDutyConfig.model_validate(fake.channel_config(timeout=5.0))

    await send(config)
    await send(config, notice(NODE_DOWN, channel="pd", action=Action.RESOLVE))

    assert [e["event_action"] for e in fake.events] == ["trigger", "resolve"]
    assert fake.alerts[0].status == "resolved"


async def test_without_ca_file_verification_fails_and_is_retryable(
        fake: PagerDutyFake) -> None:
    config = PagerDutyConfig.model_validate(fake.channel_config(timeout=5.0, ca_file=None))

    with pytest.raises(RetryableError) as info:
        await send(config)

    assert CERT_FAILURE in info.value.message
    assert "ca_file" in info.value.message  # points at the fix
    assert fake.requests == []  # refused in the handshake, before any HTTP


async def test_a_bundle_of_another_ca_is_not_enough(fake: PagerDutyFake,
                                                    tmp_path: Path) -> None:
    other = make_certificate(tmp_path)
    config = PagerDutyConfig.model_validate(
        fake.channel_config(timeout=5.0, ca_file=other.cert_file))

    with pytest.raises(RetryableError, match=CERT_FAILURE):
        await send(config)

    assert fake.requests == []


async def test_loopback_transport_speaks_tls_to_an_https_fake(
        fake: PagerDutyFake, certificate: Certificate) -> None:
    # The default events_url, redirected to the fake by the transport, verified by the CA.
    config = PagerDutyConfig.model_validate(
        {**fake.channel_config(timeout=5.0), "events_url": "https://events.pagerduty.com"})
    transport = fake.transport(verify=ca_bundle_context(certificate.cert_file))
    channel = PagerDutyChannel("pd", config, transport=transport)
    try:
        await channel.send(notice(NODE_DOWN, channel="pd"))
    finally:
        await channel.aclose()

    assert [e["event_action"] for e in fake.events] == ["trigger"]


async def test_worker_retries_a_certificate_failure_and_never_marks_it_dead(
        fake: PagerDutyFake, tmp_path: Path) -> None:
    """Through the outbox worker: the channel with ``ca_file`` delivers, the one without it
    keeps failing the handshake and stays pending (retried with backoff), never dead."""
    notifications = NotificationSettings.model_validate({
        "channels": {"trusted": fake.channel_config(timeout=2.0),
                     "untrusted": fake.channel_config(timeout=2.0, ca_file=None)},
        "routes": [{"match": {"min_severity": "critical"},
                    "channels": ["trusted", "untrusted"]}],
    })
    configs = configure(notifications)
    channels: dict[str, Any] = {
        name: PagerDutyChannel(name, configs[name])  # type: ignore[arg-type]
        for name in ("trusted", "untrusted")}
    channels["log"] = LogChannel("log")
    delivery = DeliverySettings(poll_interval=timedelta(milliseconds=50),
                                backoff_initial=timedelta(milliseconds=50),
                                backoff_max=timedelta(milliseconds=200),
                                lease=timedelta(seconds=8))
    async with running_app(channels, notifications=notifications, delivery=delivery,
                           database_url=f"sqlite+aiosqlite:///{tmp_path / 'tls.db'}") as client:
        response = await client.post(AM, json=am_message("TlsCheck"))
        assert response.status == 202, await response.text()

        async def retried() -> list[dict[str, Any]]:
            items = await client_pages(client, "/api/v1/notifications", channel="untrusted")
            return [i for i in items if i["attempts"] >= 3]

        [failing] = await eventually(retried, timeout=15, what="three failed handshakes")
        [trusted] = await client_pages(client, "/api/v1/notifications", channel="trusted")

        assert trusted["status"] == "sent"
        assert failing["status"] == "pending"
        assert CERT_FAILURE in (failing["last_error"] or "")
        assert await client_pages(client, "/api/v1/notifications", status="dead") == []
        assert [e["event_action"] for e in fake.events] == ["trigger"]  # the trusted one

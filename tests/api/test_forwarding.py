"""On-call forwarding end to end: real HTTP in, the in-process worker, the PagerDuty fake
(through the real client) and a real SMTP server out, with the example configuration."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregator.channels import configure
from aggregator.channels.email import EmailChannel
from aggregator.channels.log import LogChannel
from aggregator.channels.pagerduty import PagerDutyChannel
from aggregator.config.routing import NotificationSettings
from aggregator.config.service import DeliverySettings
from tests.api.helpers import Client, alerts, events, post
from tests.fakes.pagerduty import ROUTING_KEY, PagerDutyFake, pagerduty_fake
from tests.fakes.smtp import SmtpServer
from tests.helpers import MovableClock, eventually, load_payload

EXAMPLE = Path(__file__).parents[2] / "examples" / "aggregator.yaml"
AM = "/webhooks/alertmanager"
FAST = {"poll_interval": timedelta(milliseconds=50), "backoff_initial": timedelta(
    milliseconds=50), "backoff_max": timedelta(milliseconds=200)}


@pytest.fixture
async def pd() -> AsyncIterator[PagerDutyFake]:
    async with pagerduty_fake() as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def example_notifications(tmp_path: Path, smtp: SmtpServer, *,
                          repeat_interval: str | None = None) -> NotificationSettings:
    """The shipped example, pointed at the fakes (secrets in files, plain SMTP on loopback)."""
    document = yaml.safe_load(EXAMPLE.read_text())["notifications"]
    key = tmp_path / "routing-key"
    key.write_text(ROUTING_KEY)
    document["channels"]["oncall_pagerduty"]["routing_key_file"] = str(key)
    mail = document["channels"]["team_mail"]
    mail.update(host="127.0.0.1", port=smtp.port, security="none")
    mail.pop("username")
    mail.pop("password_file")
    if repeat_interval:
        document["routes"][0]["repeat_interval"] = repeat_interval
    return NotificationSettings.model_validate(document)


StartApp = Callable[..., Any]


@pytest.fixture
def start(pd: PagerDutyFake, smtp: SmtpServer, tmp_path: Path, make_client: Any) -> StartApp:
    # make_client last: pytest tears fixtures down in reverse, so the app and its worker stop
    # before the fakes; a fake closed under an in-flight send would leave that connection
    # open when the test's loop closes.
    async def run(clock: MovableClock | None = None, **options: Any) -> Client:
        notifications = example_notifications(tmp_path, smtp, **options)
        configs = configure(notifications)
        pd_config = configs["oncall_pagerduty"]
        mail_config = configs["team_mail"]
        channels = {
            "oncall_pagerduty": PagerDutyChannel("oncall_pagerduty", pd_config,  # type: ignore[arg-type]
                                                 transport=pd.transport()),
            "team_mail": EmailChannel("team_mail", mail_config),  # type: ignore[arg-type]
            "log": LogChannel("log"),
        }
        client: Client = await make_client(
            notifications=notifications, delivery=DeliverySettings(**FAST),
            _channels=channels, _clock=clock)
        return client

    return run


async def settle() -> None:
    """Give the worker time to send anything it (wrongly) might."""
    await asyncio.sleep(0.6)


def critical_alert() -> dict[str, Any]:
    return load_payload("alertmanager", "firing_single_alert_group.json")  # severity critical


def resolved(payload: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(payload)
    result["status"] = "resolved"
    for entry in result["alerts"]:
        entry.update(status="resolved", endsAt="2026-11-26T19:40:00Z")
    return result


def actions(pd: PagerDutyFake) -> list[str]:
    return [event["event_action"] for event in pd.events]


async def test_critical_alert_pages_once_acks_once_resolves_once(
    start: StartApp, pd: PagerDutyFake, smtp: SmtpServer
) -> None:
    client = await start()
    firing = critical_alert()
    await post(client, AM, firing)
    await eventually(lambda: len(pd.events) == 1 and len(smtp.messages) == 1,
                     what="one page and one mail")
    (item,) = await alerts(client)
    assert pd.events[0]["dedup_key"] == item["fingerprint"]
    assert "[FIRING" in smtp.messages[0].subject

    for _ in range(3):  # repeats: nothing
        await post(client, AM, firing)
    await settle()
    assert actions(pd) == ["trigger"]
    assert len(smtp.messages) == 1

    response = await client.post(f"/api/v1/alerts/{item['id']}/ack",
                                 json={"by": "alice", "comment": "looking"})
    assert response.status == 200
    assert (await response.json())["acknowledged_by"] == "alice"
    await eventually(lambda: actions(pd) == ["trigger", "acknowledge"],
                     what="the acknowledgement on PagerDuty")

    await post(client, AM, resolved(firing))
    await eventually(lambda: len(pd.events) == 3 and len(smtp.messages) == 2,
                     what="the resolve on PagerDuty and by mail")
    await settle()
    assert actions(pd) == ["trigger", "acknowledge", "resolve"]
    assert len(smtp.messages) == 2
    assert "RESOLVED" in smtp.messages[1].subject
    assert pd.incident(item["fingerprint"]).status == "resolved"  # type: ignore[union-attr]
    history = [e["kind"] for e in await events(client, item["id"])]
    assert "acknowledged" in history


async def test_alertmanager_group_of_50_is_one_mail(
    start: StartApp, pd: PagerDutyFake, smtp: SmtpServer
) -> None:
    client = await start()
    payload = load_payload("alertmanager", "firing_crashloop_group.json")
    template = payload["alerts"][0]
    payload["alerts"] = []
    for n in range(50):
        entry = copy.deepcopy(template)
        entry["labels"].update(pod=f"payments-api-{n}", severity="warning",
                               namespace="payments")
        entry.pop("fingerprint", None)
        payload["alerts"].append(entry)
    assert (await post(client, AM, payload))["new"] == 50
    await eventually(lambda: len(smtp.messages) == 1, what="one mail")
    await settle()
    (mail,) = smtp.messages
    assert "50" in mail.subject
    for n in range(50):
        assert f"payments-api-{n}" in mail.text
    assert pd.events == []  # warnings do not page


async def test_alert_that_arrives_silenced_notifies_when_the_silence_ends(
    start: StartApp, pd: PagerDutyFake, smtp: SmtpServer
) -> None:
    client = await start()
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await client.post("/api/v1/silences", json={
        "matchers": {"labels": ["alertname=KubeNodeNotReady"]}, "ends_at": ends,
        "created_by": "bob", "comment": "node maintenance"})
    assert response.status == 201
    silence = await response.json()
    assert silence["state"] == "active"

    await post(client, AM, critical_alert())
    await settle()
    (item,) = await alerts(client)
    assert item["silenced_by"] == silence["id"]
    assert pd.events == []
    assert smtp.messages == []

    response = await client.delete(f"/api/v1/silences/{silence['id']}")
    assert (await response.json())["state"] == "expired"
    await eventually(lambda: len(pd.events) == 1 and len(smtp.messages) == 1,
                     what="the page and the mail after the silence ended")
    (item,) = await alerts(client)
    assert item["silenced_by"] is None


async def test_resolve_is_never_silenced_for_a_channel_that_got_the_firing(
    start: StartApp, pd: PagerDutyFake, smtp: SmtpServer
) -> None:
    client = await start()
    firing = critical_alert()
    assert firing["alerts"][0]["labels"]["node"] == "worker-3"  # what the silence matches
    await post(client, AM, firing)
    await eventually(lambda: len(pd.events) == 1 and len(smtp.messages) == 1,
                     what="one page and one mail")
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await client.post("/api/v1/silences", json={
        "matchers": {"labels": ["node=worker-3"]}, "ends_at": ends, "created_by": "bob"})
    silence = await response.json()
    assert response.status == 201, silence
    assert (silence["state"], silence["created_by"], silence["matchers"]["labels"]) == (
        "active", "bob", ["node=worker-3"])
    await post(client, AM, resolved(firing))
    await eventually(lambda: actions(pd) == ["trigger", "resolve"] and len(smtp.messages) == 2,
                     what="the resolve on PagerDuty and by mail despite the silence")


async def test_repeat_interval_pages_again_until_acknowledged(
    start: StartApp, pd: PagerDutyFake, smtp: SmtpServer
) -> None:
    # The service's clock moves past the interval: no wall-clock wait, and an interval no
    # slow machine outlasts between the first two deliveries.
    clock = MovableClock()
    client = await start(clock=clock, repeat_interval="PT1H")
    firing = critical_alert()
    await post(client, AM, firing)
    await post(client, AM, firing)  # within the interval
    await eventually(lambda: len(pd.events) == 1, what="the first page")
    await settle()
    assert len(pd.events) == 1
    clock.advance(timedelta(hours=1))
    await post(client, AM, firing)  # past it: page again
    await eventually(lambda: len(pd.events) == 2 and len(smtp.messages) == 2,
                     what="the repeated page and mail")
    (item,) = await alerts(client)
    response = await client.post(f"/api/v1/alerts/{item['id']}/ack", json={"by": "alice"})
    assert response.status == 200
    await eventually(lambda: actions(pd)[-1] == "acknowledge",
                     what="the acknowledgement on PagerDuty")
    clock.advance(timedelta(hours=1))
    await post(client, AM, firing)  # past the interval again, but acknowledged: no repeat
    await settle()
    assert actions(pd) == ["trigger", "trigger", "acknowledge"]
    assert (await alerts(client, acknowledged="true"))[0]["id"] == item["id"]
    assert await alerts(client, acknowledged="false") == []


async def test_severity_raised_notifies_again(
    start: StartApp, pd: PagerDutyFake, smtp: SmtpServer
) -> None:
    """Azure keeps an alert's identity while its severity moves (an Alertmanager severity is
    a label, so a new value is a new problem); raised severity notifies, lowered does not."""
    client = await start()
    azure = load_payload("azure_monitor", "common-metric-static.json")
    azure["data"]["essentials"]["severity"] = "Sev1"  # error: mail only
    await post(client, "/webhooks/azure-monitor", azure)
    await eventually(lambda: len(smtp.messages) == 1, what="the mail about the error")
    azure["data"]["essentials"]["severity"] = "Sev0"  # critical: page and mail
    await post(client, "/webhooks/azure-monitor", azure)
    await eventually(lambda: len(pd.events) == 1 and len(smtp.messages) == 2,
                     what="a page and a second mail for the raised severity")
    assert pd.events[0]["payload"]["severity"] == "critical"
    azure["data"]["essentials"]["severity"] = "Sev2"  # lowered: nothing
    await post(client, "/webhooks/azure-monitor", azure)
    await settle()
    assert len(pd.events) == 1
    assert len(smtp.messages) == 2
    (item,) = await alerts(client)
    assert item["severity"] == "warning"


async def trigger_refused(start: StartApp, pd: PagerDutyFake) -> Client:
    """The app, with one critical alert posted whose PagerDuty trigger is refused (400)."""
    client: Client = await start()
    pd.fail_next(1, status=400, body={"status": "invalid event", "message": "Event object is "
                                      "invalid", "errors": ["bad"]})
    await post(client, AM, critical_alert())
    return client


async def notifications(client: Client, **params: str) -> list[dict[str, Any]]:
    body = await (await client.get("/api/v1/notifications", params=params)).json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_dead_notification_is_listed_and_can_be_retried(
    start: StartApp, pd: PagerDutyFake, smtp: SmtpServer
) -> None:
    client = await trigger_refused(start, pd)

    async def dead() -> list[dict[str, Any]]:
        return await notifications(client, status="dead")

    await eventually(dead, timeout=20, what="a dead notification")
    (row,) = await dead()
    assert row["channel"] == "oncall_pagerduty"
    assert row["last_status_code"] == 400
    (item,) = await alerts(client)
    detail = await (await client.get(f"/api/v1/alerts/{item['id']}/notifications")).json()
    by_channel = {n["channel"]: n for n in detail["items"]}
    assert by_channel["oncall_pagerduty"]["attempt_log"][0]["outcome"] == "dead"
    response = await client.post(f"/api/v1/notifications/{row['id']}/retry")
    assert response.status == 200
    await eventually(lambda: len(pd.events) == 1, what="the retried trigger on PagerDuty")
    response = await client.post(f"/api/v1/notifications/{row['id']}/retry")
    assert response.status == 409
    metrics = await (await client.get("/metrics")).text()
    assert 'aggregator_notifications_total{channel="oncall_pagerduty",outcome="dead"} 1.0' \
        in metrics


async def test_a_dead_trigger_cannot_be_retried_after_its_resolve_went_out(
    start: StartApp, pd: PagerDutyFake, smtp: SmtpServer
) -> None:
    """Retrying it would open an incident for an alert that is over, and nobody resolves it."""
    client = await trigger_refused(start, pd)

    async def pagerduty_rows() -> list[dict[str, Any]]:
        rows = await notifications(client, channel="oncall_pagerduty")
        return sorted(rows, key=lambda n: n["id"])

    async def trigger_dead() -> bool:
        return [n["status"] for n in await pagerduty_rows()] == ["dead"]

    await eventually(trigger_dead, timeout=20, what="the refused trigger dead")
    await post(client, AM, resolved(critical_alert()))

    async def resolve_sent() -> bool:
        return [(n["action"], n["status"]) for n in await pagerduty_rows()] == [
            ("trigger", "dead"), ("resolve", "sent")]

    await eventually(resolve_sent, timeout=20, what="the resolve sent after the dead trigger")
    trigger, resolve = await pagerduty_rows()
    response = await client.post(f"/api/v1/notifications/{trigger['id']}/retry")
    assert response.status == 409
    message = (await response.json())["error"]["message"]
    assert f"superseded by notification {resolve['id']} (resolve, sent)" in message
    await settle()
    assert actions(pd) == ["resolve"]  # the fake saw no trigger after it
    assert [n["status"] for n in await pagerduty_rows()] == ["dead", "sent"]


async def test_ack_of_a_resolved_alert_is_409_and_needs_a_name(start: StartApp) -> None:
    client = await start()
    await post(client, AM, critical_alert())
    (item,) = await alerts(client)
    response = await client.post(f"/api/v1/alerts/{item['id']}/ack", json={})
    assert response.status == 422
    assert (await response.json())["error"]["field"] == "by"
    await post(client, AM, resolved(critical_alert()))
    response = await client.post(f"/api/v1/alerts/{item['id']}/ack", json={"by": "alice"})
    assert response.status == 409


async def test_embedded_default_logs_every_notification(client: Client,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="aggregator.notifications")
    await post(client, AM, critical_alert())

    async def sent() -> list[tuple[str, str]]:
        return [(n["channel"], n["status"]) for n in await notifications(client)]

    async def recorded() -> bool:
        return await sent() == [("log", "sent")]

    # the line is logged just before the row is recorded as sent
    await eventually(recorded, what="the log channel's notification recorded as sent")
    assert await sent() == [("log", "sent")]
    assert "notify log trigger" in caplog.text
    assert "KubeNodeNotReady" in caplog.text


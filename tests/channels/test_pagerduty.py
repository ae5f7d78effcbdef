"""PagerDutyChannel through the real ``pagerduty`` client to the loopback Events API fake."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx2
import pagerduty
import pytest

from aggregator.channels.pagerduty import BODY_BUDGET_BYTES, PagerDutyChannel, PagerDutyConfig
from aggregator.errors import DeliveryError, PermanentError, RetryableError
from aggregator.model import Link, Severity, Source
from aggregator.notice import Action, AlertSnapshot, Notice, Reason
from tests.factories import notice, snapshot
from tests.fakes.pagerduty import (
    MAX_BODY_BYTES,
    ROUTING_KEY,
    Fault,
    LoopbackTransport,
    PagerDutyFake,
    Received,
    pagerduty_fake,
)
from tests.helpers import eventually

STARTS_AT = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
FINGERPRINT = "3f" * 32


class CountingTransport(LoopbackTransport):
    """Counts HTTP attempts on the client side (also those the fake never sees)."""

    def __init__(self, fake: PagerDutyFake) -> None:
        super().__init__(fake)
        self.attempts = 0
        self.threads: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.attempts += 1
        self.threads.append(threading.current_thread().name)
        return super().handle_request(request)


# The alert these tests send (a firing Alertmanager snapshot, as the factory makes it): a
# crash-looping pod, with every field a PagerDuty event uses.
CRASHLOOP: dict[str, Any] = {
    "fingerprint": FINGERPRINT,
    "name": "KubePodCrashLooping",
    "severity": Severity.ERROR,
    "summary": "Pod payments/api-0 is crash looping",
    "description": "Container api restarted 5 times in 10 minutes.",
    "resource": "payments/pod/api-0",
    "labels": {"alertname": "KubePodCrashLooping", "namespace": "payments",
               "pod": "api-0", "container": "api", "severity": "error",
               "cluster": "aks-prod"},
    "annotations": {"summary": "Pod payments/api-0 is crash looping",
                    "runbook_url": "https://runbooks.example/KubePodCrashLooping"},
    "links": (Link(href="http://prometheus:9090/graph?g0.expr=up", text="Source (Prometheus)"),
              Link(href="https://runbooks.example/KubePodCrashLooping", text="Runbook")),
    "starts_at": STARTS_AT,
    "occurrences": 3,
}
crashloop = functools.partial(snapshot, **CRASHLOOP)
pd_notice = functools.partial(notice, channel="pd", created_at=STARTS_AT)


# The service's default: room for any loopback send on a loaded machine; the timeout tests
# set their own.
TIMEOUT = 10.0


def config(**overrides: Any) -> PagerDutyConfig:
    return PagerDutyConfig(**{"type": "pagerduty", "routing_key": ROUTING_KEY,
                              "timeout": TIMEOUT, **overrides})


@pytest.fixture
async def fake() -> AsyncIterator[PagerDutyFake]:
    async with pagerduty_fake() as server:
        yield server


@pytest.fixture
def transport(fake: PagerDutyFake) -> CountingTransport:
    return CountingTransport(fake)


@pytest.fixture
async def channel(transport: CountingTransport) -> AsyncIterator[PagerDutyChannel]:
    chan = PagerDutyChannel("pd", config(), transport=transport)
    yield chan
    await chan.aclose()


async def failure(chan: PagerDutyChannel, sent: Notice | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await chan.send(sent or pd_notice(crashloop()))
    return info.value


# --- the event ------------------------------------------------------------------------------


async def test_trigger_carries_the_alert(channel: PagerDutyChannel, fake: PagerDutyFake) -> None:
    await channel.send(pd_notice(crashloop()))  # a 202 simply returns

    [event] = fake.events
    assert event["event_action"] == "trigger"
    assert event["routing_key"] == ROUTING_KEY
    assert event["dedup_key"] == FINGERPRINT
    assert event["payload"] == {
        "summary": "Pod payments/api-0 is crash looping",
        "source": "payments/pod/api-0",
        "severity": "error",
        "timestamp": "2026-11-27T08:30:00+00:00",
        "component": "api",
        "group": "payments",
        "class": "KubePodCrashLooping",
        "custom_details": {
            "labels": crashloop().labels,
            "annotations": crashloop().annotations,
            "occurrences": 3,
            "source": "alertmanager",
            "description": "Container api restarted 5 times in 10 minutes.",
            "reason": "new",
        },
    }
    assert event["links"] == [
        {"href": "http://prometheus:9090/graph?g0.expr=up", "text": "Source (Prometheus)"},
        {"href": "https://runbooks.example/KubePodCrashLooping", "text": "Runbook"},
    ]
    assert fake.requests[0].path == "/v2/enqueue"
    assert fake.requests[0].headers["Content-Type"] == "application/json"
    alert = fake.incident(FINGERPRINT)
    assert alert is not None and alert.status == "triggered"


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"summary": "", "resource": "", "labels": {"cluster": "aks-prod"}},
     {"summary": "KubePodCrashLooping", "source": "aks-prod"}),
    ({"resource": "", "labels": {}, "source": Source.AZURE_MONITOR},
     {"source": "azure_monitor"}),
    ({"resource": "", "labels": {"azure_resource_name": "vm-1", "azure_resource_group": "rg-a"},
      "source": Source.AZURE_MONITOR, "severity": Severity.INFO},
     {"source": "vm-1", "component": "vm-1", "group": "rg-a", "severity": "info"}),
    ({"summary": "x" * 5000}, {"summary": "x" * 1023 + "…"}),
], ids=["name-and-cluster", "source-name", "azure-labels", "long-summary"])
async def test_payload_fallbacks(channel: PagerDutyChannel, fake: PagerDutyFake,
                                 overrides: dict[str, Any], expected: dict[str, str]) -> None:
    await channel.send(pd_notice(crashloop(**overrides)))

    payload = fake.events[0]["payload"]
    assert {key: payload.get(key) for key in expected} == expected
    assert payload["source"]


async def test_links_are_optional(channel: PagerDutyChannel, fake: PagerDutyFake) -> None:
    await channel.send(pd_notice(crashloop(links=(), labels={})))

    event = fake.events[0]
    assert "links" not in event
    assert "component" not in event["payload"] and "group" not in event["payload"]


async def test_acknowledge_and_resolve_land_on_the_same_alert(
        channel: PagerDutyChannel, fake: PagerDutyFake) -> None:
    await channel.send(pd_notice(crashloop(), action=Action.TRIGGER))
    await channel.send(pd_notice(crashloop(), action=Action.ACKNOWLEDGE,
                                 reason=Reason.ACKNOWLEDGED))
    alert = fake.incident(FINGERPRINT)
    assert alert is not None and alert.status == "acknowledged"

    await channel.send(pd_notice(crashloop(), action=Action.RESOLVE, reason=Reason.RESOLVED))

    assert alert.status == "resolved"
    assert [e["event_action"] for e in alert.events] == ["trigger", "acknowledge", "resolve"]
    assert [e["dedup_key"] for e in fake.events] == [FINGERPRINT] * 3
    assert "payload" not in fake.events[1] and "payload" not in fake.events[2]
    assert len(fake.alerts) == 1


async def test_trigger_after_resolve_opens_a_new_alert(
        channel: PagerDutyChannel, fake: PagerDutyFake) -> None:
    for action in (Action.TRIGGER, Action.RESOLVE, Action.TRIGGER):
        await channel.send(pd_notice(crashloop(), action=action))

    assert [a.status for a in fake.alerts] == ["resolved", "triggered"]


async def test_acknowledge_of_an_unknown_alert_is_accepted_and_dropped(
        channel: PagerDutyChannel, fake: PagerDutyFake) -> None:
    await channel.send(pd_notice(crashloop(), action=Action.ACKNOWLEDGE,
                                 reason=Reason.ACKNOWLEDGED))

    assert fake.requests[0].status == 202
    assert fake.requests[0].applied is False
    assert fake.alerts == []


async def test_long_fingerprint_becomes_a_stable_short_key(
        channel: PagerDutyChannel, fake: PagerDutyFake) -> None:
    alert = crashloop(fingerprint="f" * 300)
    await channel.send(pd_notice(alert))
    await channel.send(pd_notice(alert, action=Action.RESOLVE, reason=Reason.RESOLVED))

    keys = {e["dedup_key"] for e in fake.events}
    assert len(keys) == 1 and len(keys.pop()) <= 255
    assert fake.alerts[0].status == "resolved"


@pytest.mark.parametrize("count", [0, 2], ids=["no-alert", "two-alerts"])
async def test_notice_must_carry_one_alert(channel: PagerDutyChannel,
                                           transport: CountingTransport, count: int) -> None:
    sent = pd_notice(*(crashloop() for _ in range(count)))

    assert isinstance(await failure(channel, sent), PermanentError)
    assert transport.attempts == 0


# --- size -----------------------------------------------------------------------------------


def _huge_alert() -> AlertSnapshot:
    big = "y" * 300_000
    return crashloop(
        description="d" * 400_000,
        annotations={"description": big, "dump": big, "summary": "short"},
        labels={**crashloop().labels, **{f"label_{i}": "v" * 100 for i in range(3_000)}},
    )


async def test_fake_enforces_the_size_limit(fake: PagerDutyFake) -> None:
    client = pagerduty.EventsApiV2Client(ROUTING_KEY, transport=fake.transport())
    with client, pytest.raises(pagerduty.HttpError) as info:
        await asyncio.to_thread(client.trigger, "s", "src", dedup_key="k",
                                custom_details={"x": "z" * MAX_BODY_BYTES})

    assert info.value.response is not None and info.value.response.status_code == 400
    assert "Payload too large" in info.value.response.json()["errors"][0]


async def test_huge_alert_is_trimmed_and_accepted(channel: PagerDutyChannel,
                                                  fake: PagerDutyFake) -> None:
    assert len(_huge_alert().model_dump_json()) > 1_000_000

    await channel.send(pd_notice(_huge_alert()))

    [received] = fake.requests
    assert received.status == 202
    assert received.size <= BODY_BUDGET_BYTES
    details = received.body["payload"]["custom_details"]
    assert details["_trimmed"] is True
    assert details["reason"] == "new" and details["occurrences"] == 3
    assert received.body["payload"]["summary"] == "Pod payments/api-0 is crash looping"
    assert len(received.body["links"]) == 2


async def test_many_links_and_keys_still_fit(channel: PagerDutyChannel,
                                             fake: PagerDutyFake) -> None:
    links = tuple(Link(href=f"https://example.com/{i}/" + "p" * 500, text=f"link {i}")
                  for i in range(2_000))
    alert = crashloop(links=links, labels={f"k{i}": "v" for i in range(60_000)},
                     summary="s" * 1024)

    await channel.send(pd_notice(alert))

    [received] = fake.requests
    assert received.status == 202 and received.size <= BODY_BUDGET_BYTES
    assert received.body["payload"]["custom_details"]["_trimmed"] is True


# --- failures: one attempt each, classified -------------------------------------------------


@pytest.mark.parametrize("fault", [
    Fault(status=500), Fault(status=502), Fault(status=503), Fault(status=504),
    Fault(status=429), Fault(status=429, retry_after=30), Fault(disconnect=True),
], ids=["500", "502", "503", "504", "429", "429-retry-after", "disconnect"])
async def test_one_attempt_and_retryable(channel: PagerDutyChannel, fake: PagerDutyFake,
                                         transport: CountingTransport, fault: Fault) -> None:
    fake.respond_with(lambda _: fault)
    started = time.monotonic()

    error = await failure(channel)

    assert isinstance(error, RetryableError)
    # No sleep before giving up (the one-attempt counts below rule out a retry): not the
    # 30 s of a Retry-After, with room for a slow thread hand-off.
    assert time.monotonic() - started < 15
    assert transport.attempts == 1
    assert fake.request_count == 1
    if fault.status is not None:
        assert error.status_code == fault.status
    else:
        assert error.status_code is None
    assert isinstance(error.__cause__, Exception)


@pytest.mark.parametrize(("header", "expected"), [
    ("30", 30.0), ("1.5", 1.5), (None, None), ("soon", None),
], ids=["seconds", "fraction", "absent", "garbage"])
async def test_429_honours_retry_after(channel: PagerDutyChannel, fake: PagerDutyFake,
                                       header: str | None, expected: float | None) -> None:
    fake.fail_next(1, status=429, retry_after=header)

    error = await failure(channel)

    assert isinstance(error, RetryableError)
    assert error.status_code == 429
    assert error.retry_after == expected


async def test_429_retry_after_as_http_date(channel: PagerDutyChannel,
                                            fake: PagerDutyFake) -> None:
    fake.fail_next(1, status=429,
                   retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=120),
                                               usegmt=True))

    error = await failure(channel)

    assert isinstance(error, RetryableError)
    assert error.retry_after is not None and 100 < error.retry_after <= 120


async def test_each_send_is_one_attempt_and_the_next_one_succeeds(
        channel: PagerDutyChannel, fake: PagerDutyFake, transport: CountingTransport) -> None:
    fake.fail_next(2, status=503)

    for _ in range(2):
        assert isinstance(await failure(channel), RetryableError)
    await channel.send(pd_notice(crashloop()))

    assert transport.attempts == 3
    assert [r.status for r in fake.requests] == [503, 503, 202]
    assert fake.alerts[0].status == "triggered"


async def test_invalid_event_is_permanent_with_pagerduty_message(
        fake: PagerDutyFake) -> None:
    short_key = "too-short-routing-key"
    chan = PagerDutyChannel("pd", config(routing_key=short_key), transport=fake.transport())
    try:
        error = await failure(chan)
    finally:
        await chan.aclose()

    assert isinstance(error, PermanentError)
    assert error.status_code == 400
    assert "Event object is invalid" in error.message
    assert "Length of 'routing_key' is incorrect" in error.message
    assert short_key not in str(error)
    assert fake.request_count == 1


async def test_forced_400_message_and_errors(channel: PagerDutyChannel,
                                             fake: PagerDutyFake) -> None:
    fake.fail_next(1, status=400, body={"status": "invalid event",
                                        "message": "Event object is invalid",
                                        "errors": ["'payload.source' is missing or blank",
                                                   "something else"]})

    error = await failure(channel)

    assert isinstance(error, PermanentError)
    assert error.message.endswith("Event object is invalid: "
                                  "'payload.source' is missing or blank; something else")


@pytest.mark.parametrize("status", [401, 403, 404, 413], ids=str)
async def test_client_errors_are_permanent(channel: PagerDutyChannel, fake: PagerDutyFake,
                                           transport: CountingTransport, status: int) -> None:
    fake.fail_next(1, status=status)

    error = await failure(channel)

    assert isinstance(error, PermanentError)
    assert error.status_code == status
    assert transport.attempts == 1


async def test_fake_down_is_retryable_and_quick(channel: PagerDutyChannel,
                                                fake: PagerDutyFake,
                                                transport: CountingTransport) -> None:
    await channel.send(pd_notice(crashloop()))  # a pooled keep-alive connection exists now
    async with fake.outage():
        started = time.monotonic()
        error = await failure(channel, pd_notice(crashloop(), action=Action.RESOLVE,
                                                 reason=Reason.RESOLVED))
        elapsed = time.monotonic() - started
    await channel.send(pd_notice(crashloop(), action=Action.RESOLVE, reason=Reason.RESOLVED))

    assert isinstance(error, RetryableError)
    assert "ConnectError" in error.message
    assert elapsed < TIMEOUT / 2  # refused at once: the timeout was not waited out
    assert transport.attempts == 3
    assert [r.status for r in fake.requests] == [202, 202]
    assert fake.alerts[0].status == "resolved"


async def test_slow_fake_times_out_as_retryable(fake: PagerDutyFake) -> None:
    transport = CountingTransport(fake)
    chan = PagerDutyChannel("pd", config(timeout=0.3), transport=transport)
    fake.slow_next(1, delay=30.0)  # free: the fake's handler is cancelled when the client goes
    started = time.monotonic()
    try:
        error = await failure(chan)
    finally:
        await chan.aclose()

    assert isinstance(error, RetryableError)
    assert "Timeout" in error.message
    # Ended by the 0.3 s timeout: not by the fake's 30 s, nor any default (10 s, the
    # library's 60 s); the rest is room for a slow thread hand-off.
    assert time.monotonic() - started < 5
    assert transport.attempts == 1


async def test_hung_request_times_out_and_is_never_applied(fake: PagerDutyFake) -> None:
    chan = PagerDutyChannel("pd", config(timeout=0.3), transport=fake.transport())
    fake.hang_next()
    try:
        error = await failure(chan)
        # The client gave up and closed the connection: the fake lets go of the request.
        await eventually(lambda: fake.hanging == 0, timeout=5, what="the hang to end")
        await chan.send(pd_notice(crashloop()))  # the next request is processed normally
    finally:
        await chan.aclose()

    assert isinstance(error, RetryableError) and "Timeout" in error.message
    assert [r.status for r in fake.requests] == [None, 202]
    assert not fake.requests[0].applied
    assert len(fake.alerts[0].events) == 1


async def test_released_request_is_dropped_unanswered(fake: PagerDutyFake) -> None:
    chan = PagerDutyChannel("pd", config(timeout=30.0), transport=fake.transport())
    fake.hang_next()
    try:
        sending = asyncio.create_task(chan.send(pd_notice(crashloop())))
        await eventually(lambda: fake.hanging == 1, timeout=5, what="a held request")
        started = time.monotonic()
        fake.release()
        with pytest.raises(RetryableError):
            await sending
    finally:
        await chan.aclose()

    # The connection was dropped, not timed out (30 s, counted from before the release).
    assert time.monotonic() - started < 15
    assert [r.status for r in fake.requests] == [None]
    assert fake.alerts == [] and fake.hanging == 0


async def test_malformed_success_is_retryable(channel: PagerDutyChannel,
                                              fake: PagerDutyFake) -> None:
    fake.fail_next(1, status=202, body={"status": "success"})

    error = await failure(channel)

    assert isinstance(error, RetryableError) and error.status_code == 202


# --- secrets --------------------------------------------------------------------------------


def _echo_key(received: Received) -> Fault:
    return Fault(status=400, body={"message": f"bad key {ROUTING_KEY}",
                                   "errors": [f"routing_key {ROUTING_KEY} unknown"]})


@pytest.mark.parametrize("fault", [
    Fault(status=400), Fault(status=401), Fault(status=403), Fault(status=404),
    Fault(status=429), Fault(status=500), Fault(disconnect=True), None,
], ids=["400", "401", "403", "404", "429", "500", "disconnect", "echoed-key"])
async def test_routing_key_never_in_error_text(channel: PagerDutyChannel, fake: PagerDutyFake,
                                               fault: Fault | None) -> None:
    fake.respond_with(_echo_key if fault is None else (lambda _: fault))

    error = await failure(channel)

    for text in (str(error), repr(error), error.message, *map(str, error.args)):
        assert ROUTING_KEY not in text
        assert ROUTING_KEY[-4:] not in text


async def test_routing_key_not_in_connection_error_text(fake: PagerDutyFake) -> None:
    chan = PagerDutyChannel("pd", config(), transport=fake.transport())
    await fake.down()
    try:
        error = await failure(chan)
    finally:
        await chan.aclose()

    assert isinstance(error, RetryableError)
    assert ROUTING_KEY not in str(error)


# --- threads and lifecycle ------------------------------------------------------------------


async def test_calls_run_in_the_dedicated_pool(channel: PagerDutyChannel,
                                               transport: CountingTransport,
                                               fake: PagerDutyFake) -> None:
    alerts = [crashloop(fingerprint=f"{i:064x}") for i in range(8)]

    await asyncio.gather(*(channel.send(pd_notice(a))
                           for a in alerts))

    assert len(fake.alerts) == 8
    assert all(name.startswith("pagerduty") for name in transport.threads)
    assert len(set(transport.threads)) <= 4


async def test_injected_executor_is_used_and_left_running(fake: PagerDutyFake) -> None:
    transport = CountingTransport(fake)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="injected") as pool:
        chan = PagerDutyChannel("pd", config(), executor=pool, transport=transport)
        await chan.send(pd_notice(crashloop()))
        await chan.aclose()

        assert transport.threads[0].startswith("injected")
        assert pool.submit(lambda: 1).result() == 1


async def test_aclose_closes_client_and_own_executor(transport: CountingTransport) -> None:
    chan = PagerDutyChannel("pd", config(), transport=transport)
    await chan.send(pd_notice(crashloop()))

    await chan.aclose()
    await chan.aclose()  # idempotent

    assert chan._client.is_closed
    with pytest.raises(RuntimeError):
        chan._executor.submit(lambda: None)
    assert isinstance(await failure(chan), RetryableError)
    assert transport.attempts == 1


async def test_fake_records_arrivals_while_the_send_waits(
        channel: PagerDutyChannel, fake: PagerDutyFake) -> None:
    fake.slow_next(1, delay=0.2)
    sending = asyncio.create_task(channel.send(pd_notice(crashloop())))

    [received] = await fake.wait_for_requests(1)
    assert received.status is None and received.action == "trigger"
    await sending

    assert received.status == 202 and received.applied
    assert received.received_at.tzinfo is UTC
    assert received.dedup_key == FINGERPRINT


async def test_fake_rate_limit_is_a_retryable_429() -> None:
    async with pagerduty_fake(rate_limit=2) as fake:
        chan = PagerDutyChannel("pd", config(), transport=fake.transport())
        try:
            for index in range(2):
                await chan.send(pd_notice(crashloop(fingerprint=f"k{index}")))
            error = await failure(chan)
        finally:
            await chan.aclose()

    assert isinstance(error, RetryableError) and error.status_code == 429
    assert [r.status for r in fake.requests] == [202, 202, 429]

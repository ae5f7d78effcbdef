"""The channel contract, for every entry of ``CHANNELS`` (a new channel is covered once it is
registered, and fails here until it has an entry in ``EXAMPLES``): its ``Config`` is a
``ChannelSettings`` whose ``type`` is its registry key, its capabilities are bools, its
longest send is positive and finite, its status table classifies every code of one shared
table (with each protocol's fixed verdicts), and no error it raises shows its secret."""

from __future__ import annotations

import asyncio
import math
import socket
import typing
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from aggregator.channels import CHANNELS, build_channels, configure
from aggregator.channels.base import ChannelClass
from aggregator.config.routing import ChannelSettings, NotificationSettings
from aggregator.errors import ConfigError, DeliveryError, RetryableError
from aggregator.model import Severity, Source, Status
from aggregator.notice import Action, AlertSnapshot, Notice, Reason
from tests.fakes.smtp import bound_socket

SECRET = "c0ntr4ct-s3cr3t-0123456789abcdef"
#: HTTP and SMTP codes together: each channel must give each of them a verdict.
SHARED_STATUSES = (200, 400, 401, 403, 404, 408, 421, 429, 450, 451, 500, 502, 503, 550, 554)


@dataclass(frozen=True)
class Example:
    """A minimal config of one channel type whose secret is ``SECRET`` and whose remote is
    127.0.0.1 at the port it is given; ``protocol``: whose status codes the remote answers."""

    config: Callable[[int], dict[str, Any]]
    protocol: Literal["http", "smtp"] | None


EXAMPLES: dict[str, Example] = {
    "email": Example(lambda port: {
        "type": "email", "host": "127.0.0.1", "port": port, "username": "alerts",
        "password": SECRET, "from": "alerts@example.com", "to": ["oncall@example.com"],
        "timeout": 5.0}, protocol="smtp"),
    "log": Example(lambda port: {"type": "log"}, protocol=None),
    "pagerduty": Example(lambda port: {
        "type": "pagerduty", "routing_key": SECRET, "events_url": f"https://127.0.0.1:{port}",
        "timeout": 5.0}, protocol="http"),
}


def _http(code: int) -> bool | None:
    """What HTTP fixes: timeout, rate limit and server errors are retried; a malformed,
    unauthorized, forbidden or misaddressed request never succeeds as sent."""
    if code in (408, 429) or 500 <= code < 600:
        return True
    if code in (400, 401, 403, 404):
        return False
    return None  # the channel decides (e.g. a 2xx without what the API promised)


def _smtp(code: int) -> bool | None:
    """What SMTP fixes (RFC 5321 4.2.1): 4xx is transient, 5xx permanent."""
    if 400 <= code < 500:
        return True
    if 500 <= code < 600:
        return False
    return None


PROTOCOLS: dict[str | None, Callable[[int], bool | None]] = {
    "http": _http, "smtp": _smtp, None: lambda code: None}

REGISTERED = pytest.mark.parametrize("kind", sorted(CHANNELS))


def test_every_registered_channel_has_an_example() -> None:
    assert set(EXAMPLES) == set(CHANNELS)


def _class(kind: str) -> ChannelClass:
    return CHANNELS[kind]


@REGISTERED
def test_config_is_channel_settings_typed_by_its_registry_key(kind: str) -> None:
    config = _class(kind).Config
    assert issubclass(config, ChannelSettings)
    assert typing.get_args(config.model_fields["type"].annotation) == (kind,)
    typed = config.model_validate(EXAMPLES[kind].config(1))
    assert typed.type == kind


@REGISTERED
def test_the_example_goes_through_the_settings_and_unknown_keys_are_refused(kind: str) -> None:
    notifications = NotificationSettings.model_validate(
        {"channels": {"c": EXAMPLES[kind].config(1)}})
    assert isinstance(configure(notifications)["c"], _class(kind).Config)
    with pytest.raises(ConfigError, match=r"notifications\.channels\.c\.no_such_key"):
        configure(NotificationSettings.model_validate(
            {"channels": {"c": {**EXAMPLES[kind].config(1), "no_such_key": 1}}}))


@REGISTERED
def test_capabilities_are_bools(kind: str) -> None:
    channel = _class(kind)
    assert isinstance(channel.groups, bool)
    assert isinstance(channel.acknowledges, bool)


@REGISTERED
def test_the_longest_send_is_positive_and_finite(kind: str) -> None:
    config = _class(kind).Config.model_validate(EXAMPLES[kind].config(1))
    longest = config.max_send_seconds()
    assert longest > 0 and math.isfinite(longest)


@REGISTERED
@pytest.mark.parametrize("code", SHARED_STATUSES)
def test_every_shared_status_is_retried_or_permanent(kind: str, code: int) -> None:
    statuses = _class(kind).statuses
    retry = statuses.retries(code)
    assert isinstance(retry, bool)
    expected = PROTOCOLS[EXAMPLES[kind].protocol](code)
    if expected is not None:
        assert retry is expected, f"{kind}: {code}"
    error = statuses.error(code, "text")
    assert isinstance(error, DeliveryError) and error.status_code == code
    assert isinstance(error, RetryableError) is retry


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening)."""
    sock = bound_socket("127.0.0.1", 0)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
async def echoing_port() -> AsyncIterator[int]:
    """A loopback port whose server says the secret (as an SMTP refusal) and hangs up."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"554 {SECRET} refused\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, family=socket.AF_INET)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _notice(kind: str) -> Notice:
    alert = AlertSnapshot(
        id=uuid.uuid4(), fingerprint="ab" * 32, source=Source.ALERTMANAGER, name="Contract",
        status=Status.FIRING, severity=Severity.CRITICAL, summary="contract check",
        description="", resource="", labels={}, annotations={}, links=(),
        starts_at=datetime(2026, 11, 27, tzinfo=UTC), occurrences=1)
    return Notice(channel=kind, action=Action.TRIGGER, reason=Reason.NEW, alerts=(alert,),
                  created_at=datetime(2026, 11, 27, tzinfo=UTC))


async def _errors(kind: str, port: int) -> list[DeliveryError]:
    """The error (if any) of one send of ``kind``'s example to 127.0.0.1:``port``."""
    configs = configure(NotificationSettings.model_validate(
        {"channels": {kind: EXAMPLES[kind].config(port)}}))
    assert SECRET not in repr(configs[kind])
    channel = build_channels(configs)[kind]
    try:
        async with asyncio.timeout(30):
            await channel.send(_notice(kind))
    except DeliveryError as exc:
        return [exc]
    finally:
        await channel.aclose()
    return []


@REGISTERED
async def test_no_error_shows_the_secret(kind: str, refused_port: int, echoing_port: int) -> None:
    errors = [*await _errors(kind, refused_port), *await _errors(kind, echoing_port)]
    if EXAMPLES[kind].protocol is not None:
        assert len(errors) == 2, f"{kind} sent to a remote that is not there"
    for error in errors:
        assert SECRET not in str(error)
        assert SECRET not in error.message
        assert SECRET not in repr(error)

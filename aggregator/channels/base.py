"""What the outbox worker hands a channel, and how a channel says it failed.

A channel gets a :class:`Notice` (one action about one or more alerts, with a snapshot of
each alert as it was when the change happened), sends it once, and either returns or
raises :class:`RetryableError` / :class:`PermanentError`. Channels never retry or sleep:
the worker owns retries, backoff and the attempt log.
"""

from __future__ import annotations

import enum
import ssl
import uuid
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from aggregator.model import Link, Severity, Source, Status


class Action(enum.StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class Reason(enum.StrEnum):
    """Why a notification was written (shown in mails and the API)."""

    NEW = "new"
    SEVERITY_RAISED = "severity_raised"
    REPEAT = "repeat"
    SILENCE_ENDED = "silence_ended"
    RESOLVED = "resolved"
    EXPIRED = "expired"
    ACKNOWLEDGED = "acknowledged"


class AlertSnapshot(BaseModel):
    """The alert as it was when the notification was written (stored with the row)."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    fingerprint: str
    source: Source
    name: str
    status: Status
    severity: Severity
    summary: str = ""
    description: str = ""
    resource: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    links: tuple[Link, ...] = ()
    starts_at: datetime
    ends_at: datetime | None = None
    occurrences: int = 1
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    comment: str | None = None


class Notice(BaseModel):
    """One send: an action about one alert (PagerDuty) or several (a grouped mail)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    action: Action
    reason: Reason
    alerts: tuple[AlertSnapshot, ...]
    created_at: datetime


class DeliveryError(Exception):
    """A send failed. ``status_code`` is the remote's answer when there was one."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class RetryableError(DeliveryError):
    """Try again later (network, timeout, 429, 5xx, SMTP 4xx). ``retry_after`` in seconds."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Will never succeed as sent (PagerDuty 400, SMTP 5xx on a recipient, bad template)."""


class Channel(Protocol):
    """A configured destination. ``groups`` channels get all alerts of one ingest request
    for one route in a single notice (a mail listing them); others get one alert each."""

    name: str
    groups: bool
    #: The longest one ``send`` can take; the worker waits this long (plus a margin) and
    #: settings check that it fits in half the delivery lease.
    max_send_seconds: float

    async def send(self, notice: Notice) -> None: ...

    async def aclose(self) -> None: ...


def describe(value: Any) -> str:
    """Short text of an exception or value for the attempt log, without secrets."""
    return str(value)[:500]


def certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error somewhere in ``exc``'s chain of causes, if any
    (the channels turn it into a retryable error that says which setting to fix)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None

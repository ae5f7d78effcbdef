"""What a channel is: the contract every channel module fulfils.

A channel gets a :class:`~aggregator.notice.Notice`, sends it once, and either returns or
raises :class:`~aggregator.errors.RetryableError` / :class:`~aggregator.errors.PermanentError`.
Channels never retry or sleep: the worker owns retries, backoff and the attempt log.
"""

from __future__ import annotations

import ssl
from typing import Any, Protocol

from aggregator.notice import Notice


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

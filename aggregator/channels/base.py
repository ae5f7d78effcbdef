"""What a channel is: the contract every channel module fulfils.

A channel module holds one channel class and its ``Config`` (a :class:`ChannelConfig`).
The class declares its capabilities (``groups``, ``acknowledges``) and how it classifies
the remote's status codes (``statuses``); the registry (``aggregator.channels.CHANNELS``)
maps the ``type`` of a settings entry to it.

A channel gets a :class:`~aggregator.notice.Notice`, sends it once, and either returns or
raises :class:`~aggregator.errors.RetryableError` / :class:`~aggregator.errors.PermanentError`.
Channels never retry or sleep: the worker owns retries, backoff and the attempt log.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Protocol

from pydantic import ConfigDict

from aggregator.channels.status import StatusTable
from aggregator.config.routing import ChannelSettings
from aggregator.notice import Notice


class ChannelConfig(ChannelSettings):
    """A channel type's own settings: strict (an unknown key is an error), with ``type``
    narrowed to the registry key by each subclass, and the longest send they allow."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @abstractmethod
    def max_send_seconds(self) -> float:
        """The longest one ``send`` can take with these settings; the worker waits this long
        (plus a margin) and it must fit in half the delivery lease."""


class Channel(Protocol):
    """A configured destination. ``groups`` channels get all alerts of one ingest request
    for one route in a single notice (a mail listing them); others get one alert each."""

    name: str
    groups: bool
    #: The longest one ``send`` can take (its config's ``max_send_seconds()``).
    max_send_seconds: float

    async def send(self, notice: Notice) -> None: ...

    async def aclose(self) -> None: ...


class ChannelClass(Protocol):
    """A channel class as the registry holds it: its config model, capabilities, status
    table, and ``cls(name, config)`` to make one."""

    @property
    def Config(self) -> type[ChannelConfig]:  # noqa: N802 (a class, as channels declare it)
        """The model of its settings entry (``type`` equal to its registry key)."""

    @property
    def groups(self) -> bool:
        """Gets all alerts of one request (for one route) in one notice."""

    @property
    def acknowledges(self) -> bool:
        """Understands the acknowledge action (the planner sends it acknowledgements)."""

    @property
    def statuses(self) -> StatusTable:
        """Which remote status codes are retried and which are final."""

    def __call__(self, name: str, config: Any, /) -> Channel: ...


def describe(value: Any) -> str:
    """Short text of an exception or value for the attempt log, without secrets."""
    return str(value)[:500]

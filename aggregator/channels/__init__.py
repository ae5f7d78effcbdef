"""Channels: one module per destination, and the registry of them.

``CHANNELS`` maps the ``type`` of a ``notifications.channels`` entry to its channel class
(its ``Config``, capabilities and status table: see :mod:`aggregator.channels.base`); a new
channel is its module and one line here. :func:`configure` validates the entries against
their types, :func:`build_channels` makes the channels from the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aggregator.channels.base import Channel, ChannelClass, ChannelConfig
from aggregator.channels.configure import typed_configs
from aggregator.channels.email import EmailChannel
from aggregator.channels.log import LogChannel
from aggregator.channels.pagerduty import PagerDutyChannel
from aggregator.config.routing import NotificationSettings
from aggregator.config.service import Settings

CHANNELS: Final[Mapping[str, ChannelClass]] = {
    "email": EmailChannel,
    "log": LogChannel,
    "pagerduty": PagerDutyChannel,
}


def configure(settings: Settings | NotificationSettings) -> dict[str, ChannelConfig]:
    """The typed config of every channel; ``ConfigError`` naming each bad entry (key and,
    with a settings file, its line), an unknown type, or a send that could outlive half of
    ``delivery.lease``. Notification settings alone (tests, tools) have no lease to check."""
    if isinstance(settings, NotificationSettings):
        return typed_configs(CHANNELS, settings)
    return typed_configs(CHANNELS, settings.notifications, lease=settings.delivery.lease,
                         config_file=settings.config_file)


def build_channels(configs: Mapping[str, ChannelConfig]) -> dict[str, Channel]:
    """One channel per typed config (from :func:`configure`)."""
    return {name: CHANNELS[config.type](name, config) for name, config in configs.items()}

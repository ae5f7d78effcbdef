"""Channels: one module per destination. ``build_channels`` makes them from the settings."""

from __future__ import annotations

from aggregator.channels.base import Channel
from aggregator.channels.email import EmailChannel
from aggregator.channels.log import LogChannel
from aggregator.channels.pagerduty import PagerDutyChannel
from aggregator.config.routing import EmailConfig, LogConfig, NotificationSettings, PagerDutyConfig


def build_channel(name: str, config: PagerDutyConfig | EmailConfig | LogConfig) -> Channel:
    if isinstance(config, PagerDutyConfig):
        return PagerDutyChannel(name, config)
    if isinstance(config, EmailConfig):
        return EmailChannel(name, config)
    return LogChannel(name)


def build_channels(settings: NotificationSettings) -> dict[str, Channel]:
    return {name: build_channel(name, config) for name, config in settings.channels.items()}

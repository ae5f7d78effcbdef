"""Channel settings checked: every raw ``notifications.channels`` entry validated against its
type's ``Config``, and each channel's longest send against the delivery lease.

Runs (through ``aggregator.channels.configure``) at start and in ``aggregator check-config``;
every problem becomes one line of a :class:`~aggregator.errors.ConfigError` naming the key
(``notifications.channels.<name>.<field>``) and, with a settings file, its line. An unknown
``type`` is one of those problems.
"""

from __future__ import annotations

import contextlib
import json
import types
import typing
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aggregator.channels.base import ChannelClass, ChannelConfig
from aggregator.config.explain import describe_problem, describe_problems, error_lines
from aggregator.config.routing import ChannelSettings, NotificationSettings
from aggregator.errors import ConfigError

#: A send must finish within half the lease, with this margin, or it could be claimed twice.
LEASE_MARGIN_SECONDS = 1.0


def typed_configs(registry: Mapping[str, ChannelClass], notifications: NotificationSettings,
                  *, lease: timedelta | None = None,
                  config_file: Path | None = None) -> dict[str, ChannelConfig]:
    """The typed config of every channel entry, by the ``registry`` entry of its ``type``;
    with ``lease``, also the check that each longest send fits in half of it.
    ``ConfigError`` listing every problem."""
    problems: list[str] = []
    configs: dict[str, ChannelConfig] = {}
    for name, entry in notifications.channels.items():
        where = ("notifications", "channels", name)
        channel = registry.get(entry.type)
        if channel is None:
            known = ", ".join(sorted(registry))
            problems.append(describe_problem(
                (*where, "type"), f"unknown channel type {entry.type!r} (known: {known})",
                config_file))
            continue
        try:
            configs[name] = _typed(channel, entry)
        except ValidationError as exc:
            problems.extend(error_lines(exc, config_file, where))
    if lease is not None:
        problems.extend(_lease_problems(configs, lease, config_file))
    if problems:
        raise ConfigError(describe_problems(problems))
    return configs


def _typed(channel: ChannelClass, entry: ChannelSettings) -> ChannelConfig:
    if isinstance(entry, channel.Config):  # a typed config passed in code: already valid
        return entry
    return channel.Config.model_validate(_decoded(channel.Config, entry.raw()))


def _lease_problems(configs: Mapping[str, ChannelConfig], lease: timedelta,
                    config_file: Path | None) -> list[str]:
    budget = lease.total_seconds() / 2
    problems = []
    for name, config in configs.items():
        longest = config.max_send_seconds()
        if longest + LEASE_MARGIN_SECONDS > budget:
            problems.append(describe_problem(
                ("notifications", "channels", name, "timeout"),
                f"a send may take {longest:.0f} s, more than half of delivery.lease "
                f"({budget:.0f} s) allows; lower the timeout or raise the lease, or a slow "
                "send could be claimed twice", config_file))
    return problems


def _decoded(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Values from the environment arrive as text; as pydantic-settings does for declared
    fields, JSON text for a list, dict or model field (``to='["a@example.com"]'``) is decoded
    (the raw entry declares no fields, so the settings source could not)."""
    decoded = dict(values)
    for name, field in model.model_fields.items():
        for key in {name, field.alias or name}:
            value = decoded.get(key)
            if isinstance(value, str) and _is_complex(field.annotation):
                with contextlib.suppress(ValueError):  # validation says what is wrong
                    decoded[key] = json.loads(value)
    return decoded


def _is_complex(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_complex(arg) for arg in typing.get_args(annotation))
    if origin in (list, dict, set, frozenset, tuple):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel | list | dict)

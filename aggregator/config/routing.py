"""Settings of the notification side: the channel entries, routes and matchers.

Routes and matchers are validated when the settings load (so ``aggregator check-config``
and start-up name the bad key). A channel entry is kept raw here (:class:`ChannelSettings`):
each channel module owns its typed ``Config``, and the channels package validates the
entries against them (config never imports channels).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Secret, field_validator, model_validator

from aggregator.model import Severity, Source


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ChannelSettings(BaseModel):
    """One entry of ``notifications.channels`` as the settings hold it: its ``type``, and
    every other key kept opaque until that type's own ``Config`` validates the entry (the
    channels package does, at start and in ``check-config``).

    The other keys are still plain text here (a ``routing_key``, a ``password`` from the
    environment), so each is held as a ``Secret``: no repr, log line or dump of the settings
    shows one. :meth:`raw` gives the entry back as written. A channel's ``Config`` subclasses
    this model, so a typed config can stand wherever a raw entry is expected.
    """

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Secret[Any]] = Field(init=False)

    type: str

    def raw(self) -> dict[str, Any]:
        """``type`` and every other key with its plain value, for the typed validation."""
        extra = self.__pydantic_extra__ or {}
        return {"type": self.type, **{key: value.get_secret_value()
                                      for key, value in extra.items()}}


_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-/]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class LabelMatcher(BaseModel):
    """``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex`` (regex anchored)."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str

    @classmethod
    def parse(cls, text: str) -> LabelMatcher:
        found = _MATCHER.match(text)
        if found is None:
            raise ValueError(f"matcher {text!r} must look like name=value, name!=value, "
                             "name=~regex or name!~regex")
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"matcher {text!r}: bad regular expression: {exc}") from exc
        return cls.model_validate({"name": name, "op": op, "value": value})

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


class Match(_Strict):
    """All given conditions must hold. ``labels`` are matcher strings."""

    source: list[Source] | None = None
    severity: list[Severity] | None = Field(default=None, description="any of these")
    min_severity: Severity | None = Field(default=None, description="this or more urgent")
    labels: list[LabelMatcher] = Field(default_factory=list)

    @field_validator("labels", mode="before")
    @classmethod
    def _parse_labels(cls, value: object) -> object:
        if isinstance(value, list):
            return [LabelMatcher.parse(v) if isinstance(v, str) else v for v in value]
        return value


class RouteConfig(_Strict):
    match: Match = Field(default_factory=Match)
    channels: list[str] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")
    repeat_interval: timedelta | None = Field(
        default=None, description="re-notify an unacknowledged firing alert this often")
    send_resolved: bool = True


def _default_channels() -> dict[str, ChannelSettings]:
    return {"log": ChannelSettings(type="log")}


class NotificationSettings(_Strict):
    channels: dict[str, ChannelSettings] = Field(default_factory=_default_channels)
    routes: list[RouteConfig] = Field(default_factory=list)
    default_route: RouteConfig = Field(
        default_factory=lambda: RouteConfig(channels=["log"]),
        description="used when no route matches; the log channel always exists")

    @model_validator(mode="after")
    def _channels_exist(self) -> NotificationSettings:
        self.channels.setdefault("log", ChannelSettings(type="log"))  # always there
        for name in self.channels:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,62}", name):
                raise ValueError(f"channel name {name!r}: use lower-case letters, digits, - and _")
        for where, route in [("default_route", self.default_route),
                             *((f"routes.{i}", r) for i, r in enumerate(self.routes))]:
            for channel in route.channels:
                if channel not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none"
                    raise ValueError(f"{where}.channels: no channel named {channel!r} "
                                     f"(defined: {known})")
        return self

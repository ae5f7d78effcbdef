"""Settings of the notification side: channels (pagerduty, email, log) and routes.

Validated when the settings load (so ``aggregator check-config`` and start-up name the bad
key). Secrets are ``SecretStr`` with a ``*_file`` twin for Kubernetes Secret files.
"""

from __future__ import annotations

import re
import ssl
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from aggregator.config.secrets import read_secret
from aggregator.model import Severity, Source


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def ca_bundle_context(path: Path, setting: str = "ca_file") -> ssl.SSLContext:
    """A client TLS context that trusts exactly the CA certificates of the PEM file ``path``.

    (Not the system's CAs: the bundle replaces them.) ``ValueError`` naming ``setting`` when
    the file is missing, unreadable or holds no usable certificate.
    """
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise ValueError(f"{setting}: {path} {what}")
    try:
        return ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:
        raise ValueError(f"{setting}: {path} is not a PEM CA bundle "
                         f"({exc.reason or exc})") from exc
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from exc


def _loadable_ca_bundle(value: Path | None) -> Path | None:
    """Refuse at start a ``ca_file`` the channel could not load when it first sends."""
    if value is not None:
        ca_bundle_context(value)
    return value


class PagerDutyConfig(_Strict):
    """PagerDuty Events API v2. ``routing_key`` is the service integration key."""

    type: Literal["pagerduty"]
    routing_key: SecretStr | None = None
    routing_key_file: Path | None = None
    events_url: str = Field(
        default="https://events.pagerduty.com",
        description="Events API base URL (https only; https://events.eu.pagerduty.com in EU)",
    )
    timeout: float = Field(default=10.0, gt=0, le=120)
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle that verifies the Events API's TLS certificate instead of "
                    "the system's CAs (a private relay or proxy)")

    _ca_bundle = field_validator("ca_file")(_loadable_ca_bundle)

    @model_validator(mode="after")
    def _key(self) -> PagerDutyConfig:
        if self.routing_key_file is not None:
            self.routing_key = read_secret(self.routing_key_file, "routing_key_file")
            self.routing_key_file = None
        if self.routing_key is None or not self.routing_key.get_secret_value():
            raise ValueError("routing_key (or routing_key_file) is required")
        if not self.events_url.startswith("https://"):
            raise ValueError("events_url must start with https://")
        return self


class EmailConfig(_Strict):
    """SMTP delivery with aiosmtplib. ``security``: starttls (587), tls (465) or none."""

    type: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[alert]"
    templates_dir: Path | None = Field(
        default=None, description="folder with subject.txt, body.txt, body.html to override")
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle that verifies the SMTP server's certificate instead of "
                    "the system's CAs (a private mail relay)")
    validate_certs: bool = True
    timeout: float = Field(default=20.0, gt=0, le=300)

    _ca_bundle = field_validator("ca_file")(_loadable_ca_bundle)

    @model_validator(mode="after")
    def _check(self) -> EmailConfig:
        if self.password_file is not None:
            self.password = read_secret(self.password_file, "password_file")
            self.password_file = None
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        if self.password is not None and self.security == "none":
            raise ValueError("refusing to send a password without TLS; set security: starttls")
        for address in (self.sender, *self.to):
            if "@" not in address:
                raise ValueError(f"{address!r} is not an e-mail address")
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            raise ValueError(f"templates_dir {self.templates_dir} is not a folder")
        return self


class LogConfig(_Strict):
    """Write notifications to the service log (the embedded default)."""

    type: Literal["log"]


QUIT_TIMEOUT = 2.0  # the courtesy QUIT after an accepted mail


def worst_send_seconds(config: PagerDutyConfig | EmailConfig | LogConfig) -> float:
    """The longest one send on this channel can take (what the worker waits for)."""
    if isinstance(config, PagerDutyConfig):
        return config.timeout + 1.0  # one attempt, plus the thread hand-off
    if isinstance(config, EmailConfig):
        return config.timeout + min(config.timeout, QUIT_TIMEOUT)
    return 1.0


ChannelConfig = Annotated[PagerDutyConfig | EmailConfig | LogConfig, Field(discriminator="type")]

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


def _default_channels() -> dict[str, PagerDutyConfig | EmailConfig | LogConfig]:
    return {"log": LogConfig(type="log")}


class NotificationSettings(_Strict):
    channels: dict[str, ChannelConfig] = Field(default_factory=_default_channels)
    routes: list[RouteConfig] = Field(default_factory=list)
    default_route: RouteConfig = Field(
        default_factory=lambda: RouteConfig(channels=["log"]),
        description="used when no route matches; the log channel always exists")

    @model_validator(mode="after")
    def _channels_exist(self) -> NotificationSettings:
        self.channels.setdefault("log", LogConfig(type="log"))  # always there
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

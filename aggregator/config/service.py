"""Service settings: ``AGGREGATOR_*`` environment, an optional YAML file, ``*_file`` secrets.

Precedence, highest first: explicit overrides (CLI flags) > environment > YAML file.
Nothing here is read at import time; :func:`load_settings` builds a ``Settings`` on demand.
"""

from __future__ import annotations

import ipaddress
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from aggregator.config.explain import ENV_PREFIX, describe_validation_error
from aggregator.config.routing import NotificationSettings
from aggregator.config.secrets import read_secret, read_secret_lines
from aggregator.errors import ConfigError
from aggregator.model import Severity, Source

CONFIG_ENV = "AGGREGATOR_CONFIG"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./aggregator.db"


def _read_database_url(path: Path) -> str:
    url = read_secret(path, "database_url_file").get_secret_value()
    if not url:
        raise ValueError(f"database_url_file: {path} is empty")
    return url


_WEBHOOK_KEYS: Final = {
    **{f"{source.value}_tokens": ("webhook_tokens", source) for source in Source},
    **{f"{source.value}_tokens_file": ("webhook_tokens_file", source) for source in Source},
}
"""The documented per-source spelling (``auth.alertmanager_tokens``, ``..._file``) of an
entry of ``webhook_tokens`` / ``webhook_tokens_file``."""


def _listed(value: Any) -> Any:
    """A token list from the environment arrives as JSON text (pydantic-settings decodes it
    only for declared fields; the per-source keys are not fields)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class AuthSettings(BaseModel):
    """Tokens. Webhook tokens are kept per source (``webhook_tokens: {alertmanager: [...]}``,
    or as documented ``alertmanager_tokens: [...]``), so a new source needs no new setting.
    Each list has a ``*_file`` twin naming a file with one token per line."""

    model_config = ConfigDict(extra="forbid")

    webhook_tokens: dict[Source, list[SecretStr]] = Field(
        default_factory=dict, description="tokens each source's webhook accepts")
    webhook_tokens_file: dict[Source, Path] = Field(
        default_factory=dict, description="per source, a file with one token per line")
    api_read_tokens: list[SecretStr] = Field(default_factory=list)
    api_read_tokens_file: Path | None = None
    api_write_tokens: list[SecretStr] = Field(default_factory=list)
    api_write_tokens_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _fold_source_keys(cls, data: Any) -> Any:
        """``<source>_tokens`` / ``<source>_tokens_file`` into the per-source dicts; any
        other unknown key is still refused (``extra="forbid"``)."""
        if not isinstance(data, dict) or not _WEBHOOK_KEYS.keys() & data.keys():
            return data
        data = dict(data)
        for key, (target, source) in _WEBHOOK_KEYS.items():
            folded = data.get(target) or {}
            if key not in data or not isinstance(folded, dict):
                continue  # a target of the wrong type: validation names it and the key
            if source.value in folded:
                raise ValueError(f"auth.{key} and auth.{target}.{source.value} are both "
                                 "set; keep one")
            value = data.pop(key)
            if target == "webhook_tokens":
                value = _listed(value)
                if not isinstance(value, list):
                    raise ValueError(f"auth.{key}: a list of tokens is needed "
                                     '(in the environment as JSON: ["token", ...])')
            data[target] = {**folded, source.value: value}
        return data

    @model_validator(mode="after")
    def _load_files(self) -> AuthSettings:
        for source, tokens_file in self.webhook_tokens_file.items():
            self.webhook_tokens.setdefault(source, []).extend(
                read_secret_lines(tokens_file, f"auth.{source.value}_tokens_file"))
        self.webhook_tokens_file = {}
        for name in ("api_read_tokens", "api_write_tokens"):
            path: Path | None = getattr(self, f"{name}_file")
            if path is not None:
                tokens: list[SecretStr] = getattr(self, name)
                setattr(self, f"{name}_file", None)
                tokens.extend(read_secret_lines(path, f"auth.{name}_file"))
        named: list[tuple[str, list[SecretStr]]] = [
            *((f"{source.value}_tokens", self.tokens_for(source)) for source in Source),
            ("api_read_tokens", self.api_read_tokens),
            ("api_write_tokens", self.api_write_tokens)]
        for name, listed in named:
            for token in listed:
                if len(token.get_secret_value()) < 16:
                    raise ValueError(f"auth.{name}: every token needs at least 16 characters")
        return self

    def tokens_for(self, source: Source) -> list[SecretStr]:
        """The tokens ``source``'s webhook accepts (none: the webhook is open)."""
        return self.webhook_tokens.get(source, [])

    @property
    def any_configured(self) -> bool:
        return bool(any(self.webhook_tokens.values())
                    or self.api_read_tokens or self.api_write_tokens)


class DeliverySettings(BaseModel):
    """The outbox worker: how it claims, how long it retries."""

    model_config = ConfigDict(extra="forbid")

    worker_in_serve: bool = Field(
        default=True, description="run the worker inside `serve`; off when `aggregator "
        "worker` runs as its own deployment")
    poll_interval: timedelta = timedelta(seconds=1)
    batch_size: int = Field(default=100, ge=1, le=1000)
    concurrency: int = Field(default=8, ge=1, le=64)
    lease: timedelta = Field(
        default=timedelta(seconds=60),
        description="a claimed notification not finished within this is claimed again")
    max_attempts: int = Field(default=25, ge=1)
    max_age: timedelta = Field(default=timedelta(hours=6),
                               description="a notification still failing after this is dead")
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)

    @model_validator(mode="after")
    def _check(self) -> DeliverySettings:
        if self.lease < timedelta(seconds=1):
            raise ValueError("lease must be at least one second")
        if self.backoff_initial <= timedelta(0) or self.backoff_max < self.backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        return self


class RateLimitSettings(BaseModel):
    """Per-token rate limit of the API (never of webhooks or health routes)."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(
        default=50.0, ge=0, description="requests per second per API token (per remote "
        "address when the API has no tokens); 0 turns the limit off")
    burst: int = Field(default=100, ge=1, description="requests allowed at once above the rate")
    max_keys: int = Field(default=10_000, ge=1,
                          description="callers tracked at once; the least recent is dropped")

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, data: Any) -> Any:
        """``api_rate_limit: 20`` is short for ``api_rate_limit: {per_second: 20}``."""
        if isinstance(data, (int, float, str)) and not isinstance(data, bool):
            return {"per_second": data}
        return data


class Settings(BaseSettings):
    """Every setting of the service. Defaults are the embedded, no-configuration mode."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    insecure: bool = False
    database_url: str = DEFAULT_DATABASE_URL
    database_url_file: Path | None = Field(
        default=None,
        description="file whose content is database_url (a mounted Kubernetes Secret); "
        "instead of database_url, not with it",
    )
    database_schema: str | None = Field(
        default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema (search_path) to keep the tables in",
    )
    migrate_on_start: bool = True
    db_pool_size: int = Field(default=10, ge=1)
    db_pool_timeout: float = Field(
        default=5.0, gt=0, description="seconds to wait for a pooled connection before a 503"
    )
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    processes: int = Field(
        default=1, ge=1, le=64,
        description="serve processes sharing the port (SO_REUSEPORT); migrations run once "
        "before they start, housekeeping only in the first",
    )
    ingest_batch_alerts: int = Field(
        default=1000, ge=1, le=100_000,
        description="concurrent webhook requests share one transaction (group commit) up "
        "to this many alerts",
    )
    ingest_queue_alerts: int = Field(
        default=5_000, ge=1, le=1_000_000,
        description="alerts waiting for an ingest transaction, at most; past it webhooks "
        "answer 503 with Retry-After (the senders retry) instead of queueing without bound",
    )
    ingest_writers: int = Field(
        default=1, ge=1, le=32,
        description="ingest transactions running at once on PostgreSQL (SQLite: always 1)",
    )
    default_severity: Severity = Severity.WARNING
    repeat_event_interval: timedelta = timedelta(minutes=5)
    expire_after: timedelta = Field(
        default=timedelta(hours=24),
        description="alerts whose source never resolves them (stateless Azure log and "
        "activity-log alerts) are resolved as expired after this long without a delivery; "
        "0 turns expiry off",
    )
    retention: timedelta = Field(
        default=timedelta(days=90),
        description="resolved alerts (with their events) and rejected payloads older than "
        "this are deleted; 0 keeps everything",
    )
    housekeeping_interval: timedelta = timedelta(minutes=1)
    housekeeping_batch_size: int = Field(default=500, ge=1, le=10_000)
    retry_after_seconds: int = Field(default=5, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    auth: AuthSettings = Field(default_factory=AuthSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    api_rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    config_file: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.database_url_file is not None:
            if "database_url" in self.model_fields_set:
                raise ValueError("database_url and database_url_file are both set; keep one")
            self.database_url = _read_database_url(self.database_url_file)
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            origin = f" (read from {self.database_url_file})" if self.database_url_file else ""
            raise ValueError(
                f"database_url{origin}: use sqlite+aiosqlite:///path.db or "
                "postgresql+asyncpg://user:password@host/db"
            )
        if self.repeat_event_interval <= timedelta(0):
            raise ValueError("repeat_event_interval must be positive")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path_from(init_settings)
        yaml: tuple[PydanticBaseSettingsSource, ...] = ()
        if path is not None:
            yaml = (YamlConfigSettingsSource(settings_cls, yaml_file=path),)
        return (init_settings, env_settings, *yaml)


def _config_path_from(init_settings: PydanticBaseSettingsSource) -> Path | None:
    explicit = init_settings().get("config_file")
    if explicit:
        return Path(str(explicit))
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, raising :class:`ConfigError` with the bad key named."""
    path = config_file or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist or is not a file")
    clean = {key: value for key, value in overrides.items() if value is not None}
    if "database_url" in clean:  # a --database-url flag wins over a configured file
        clean.setdefault("database_url_file", None)
    try:
        return Settings(config_file=path, **clean)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

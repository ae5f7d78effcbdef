"""The normalized alert every source produces and every later stage consumes.

Pure data: pydantic models and enums, no I/O. Field names are those the API shows.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_REF_LENGTH = 512


class Source(enum.StrEnum):
    """The senders the service accepts; the value is the registry key and URL segment."""

    ALERTMANAGER = "alertmanager"
    AZURE_MONITOR = "azure_monitor"


class Status(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(enum.StrEnum):
    """Ordered from most to least urgent; compare with :func:`severity_rank`."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_RANK = {Severity.CRITICAL: 0, Severity.ERROR: 1, Severity.WARNING: 2, Severity.INFO: 3}


def severity_rank(severity: Severity) -> int:
    """0 for critical up to 3 for info: lower is more urgent."""
    return _RANK[severity]


class Link(BaseModel):
    model_config = ConfigDict(frozen=True)

    href: str
    text: str


class Alert(BaseModel):
    """One alert as a source reported it, before identity and deduplication.

    ``identity`` holds what names the *problem* (hashed into the fingerprint by the
    pipeline); ``source_ref`` names the *episode* as the source sees it. ``raw`` is the
    source fragment, kept verbatim and never hashed.
    """

    model_config = ConfigDict(frozen=True)

    source: Source
    source_ref: str
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
    identity: dict[str, str]
    auto_resolves: bool = Field(
        default=True,
        description="False when the source never sends a resolve (stateless Azure alerts); "
        "such alerts expire after ``expire_after`` without a delivery",
    )
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("source_ref")
    @classmethod
    def _bounded_ref(cls, value: str) -> str:
        """Keep episode references index-friendly: long ones become their sha256."""
        if len(value) <= MAX_REF_LENGTH:
            return value
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value

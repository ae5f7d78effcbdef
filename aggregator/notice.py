"""The contract between the pipeline and delivery: what a notification says.

The pipeline plans :class:`Planned` rows (an :class:`Action` about one alert, for a
:class:`Reason`, with an :class:`AlertSnapshot` of the alert as it was then); the outbox
stores them; the worker hands a channel a :class:`Notice` (one action about one or more
snapshots). Pure data: no I/O.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True, slots=True)
class Planned:
    """One outbox row to write: one action about one alert on one channel."""

    alert_id: uuid.UUID
    fingerprint: str
    channel: str
    action: Action
    reason: Reason
    group_key: str
    snapshot: AlertSnapshot

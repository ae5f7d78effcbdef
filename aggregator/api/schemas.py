"""Request and response models of the HTTP API. Never the ORM rows: converted here."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from aggregator.model import Link, Severity, Source, Status
from aggregator.store.tables import AlertEventRow, AlertRow, RejectedPayloadRow

T = TypeVar("T")


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable error code, e.g. invalid_payload")
    message: str = Field(description="what went wrong and what to do about it")
    field: str | None = Field(default=None, description="dotted path of the offending field")


class ErrorOut(BaseModel):
    error: ErrorBody


class IngestOut(BaseModel):
    """What one webhook delivery did. ``received`` = new + repeats + resolved + stale."""

    received: int
    new: int
    repeats: int
    resolved: int
    stale: int
    truncated: int = Field(description="alerts the sender left out (Alertmanager max_alerts)")


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    fingerprint: str
    source: Source
    source_ref: str
    name: str
    status: Status
    severity: Severity
    summary: str
    description: str
    resource: str
    labels: dict[str, str]
    annotations: dict[str, str]
    links: list[Link]
    starts_at: datetime
    ends_at: datetime | None
    resolved_reason: str | None
    first_received_at: datetime
    last_received_at: datetime
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    silenced_by: uuid.UUID | None
    raw: dict[str, Any]

    @classmethod
    def of(cls, row: AlertRow) -> AlertOut:
        return cls.model_validate(row)


class AlertEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    alert_id: uuid.UUID
    kind: str = Field(description="opened, resolved, changed, repeat (coalesced), stale, "
                      "expired, acknowledged, unacknowledged")
    at: datetime = Field(description="when it happened (for repeats: the latest one)")
    count: int = Field(description="deliveries this event stands for (repeats are coalesced)")
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: AlertEventRow) -> AlertEventOut:
        return cls.model_validate(row)


class RejectedOut(BaseModel):
    id: int
    received_at: datetime
    source: str
    status_code: int
    reason: str
    field: str | None
    content_type: str
    remote: str
    headers: dict[str, str]
    body: str = Field(description="the body as text (invalid UTF-8 replaced)")
    body_base64: str = Field(description="the body exactly as received, base64")
    body_size: int = Field(description="size of the body as received, before truncation")
    body_truncated: bool

    @classmethod
    def of(cls, row: RejectedPayloadRow) -> RejectedOut:
        return cls(
            id=row.id, received_at=row.received_at, source=row.source,
            status_code=row.status_code, reason=row.reason, field=row.field,
            content_type=row.content_type, remote=row.remote, headers=row.headers,
            body=row.body.decode("utf-8", errors="replace"),
            body_base64=base64.b64encode(row.body).decode(), body_size=row.body_size,
            body_truncated=len(row.body) < row.body_size,
        )


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end")


class AlertPage(Page[AlertOut]):
    pass


class AlertEventPage(Page[AlertEventOut]):
    pass


class RejectedPage(Page[RejectedOut]):
    pass


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None


class AlertQuery(ListQuery):
    """Filters of ``GET /api/v1/alerts``; all of them combine with AND."""

    status: Status | None = None
    severity: list[Severity] = Field(default_factory=list, description="repeatable: any of")
    source: Source | None = None
    label: list[str] = Field(default_factory=list,
                             description="repeatable key=value; every one must match")
    q: str | None = Field(default=None, max_length=200,
                          description="case-insensitive text in name or summary")
    since: datetime | None = Field(default=None,
                                   description="alerts last received at or after this time")
    until: datetime | None = Field(default=None,
                                   description="alerts first received at or before this time")
    acknowledged: bool | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str = ""


def encode_cursor(at: datetime, key: int | uuid.UUID) -> str:
    data = json.dumps([at.isoformat(), str(key)]).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError on anything that is not a cursor this service made."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError("cursor is not valid; use next_cursor from the previous page") from exc
    if moment.tzinfo is None or not isinstance(key, str):
        raise ValueError("cursor is not valid; use next_cursor from the previous page")
    return moment, key


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=256, description="who acknowledges")
    comment: str = Field(default="", max_length=2000)


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    started_at: datetime
    finished_at: datetime
    outcome: str = Field(description="sent, retry, dead or lease_lost")
    status_code: int | None
    error: str | None


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    alert_id: uuid.UUID
    fingerprint: str
    channel: str
    action: str = Field(description="trigger, acknowledge or resolve")
    reason: str
    status: str = Field(description="pending, sent or dead")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    last_status_code: int | None
    attempt_log: list[AttemptOut] = Field(default_factory=list)


class NotificationPage(Page[NotificationOut]):
    pass


class NotificationQuery(ListQuery):
    status: Literal["pending", "sent", "dead"] | None = None
    channel: str | None = Field(default=None, max_length=64)


class SilenceMatch(BaseModel):
    """Same conditions as a route's ``match``; at least one is required."""

    model_config = ConfigDict(extra="forbid")

    source: list[Source] | None = None
    severity: list[Severity] | None = None
    min_severity: Severity | None = None
    labels: list[str] = Field(default_factory=list,
                              description="name=value, name!=value, name=~regex, name!~regex")


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: SilenceMatch
    starts_at: datetime | None = Field(default=None, description="default: now")
    ends_at: datetime
    created_by: str = Field(min_length=1, max_length=256)
    comment: str = Field(default="", max_length=2000)


class SilenceOut(BaseModel):
    id: uuid.UUID
    matchers: SilenceMatch
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    state: Literal["pending", "active", "expired"]


class SilencePage(Page[SilenceOut]):
    pass


class SilenceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=500)
    state: Literal["pending", "active", "expired"] | None = None

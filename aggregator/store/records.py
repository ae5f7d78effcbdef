"""What the repositories hand back and take: plain records, no SQL.

The pipeline judges against :class:`StoredAlert` / :class:`FingerprintState` and gives the
repositories neutral write inputs (:class:`NewEpisode`, :class:`Resolution`,
:class:`ContentChange`, :class:`NewEvent`), so the store never needs the pipeline's types.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregator.model import Alert, Status


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """The part of a stored episode the decisions need."""

    id: uuid.UUID
    fingerprint: str
    source_ref: str
    status: Status
    severity: str
    summary: str
    description: str
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    occurrences: int = 1
    acknowledged: bool = False
    silenced_by: uuid.UUID | None = None
    notified: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class FingerprintState:
    open: StoredAlert | None = None
    by_ref: dict[str, StoredAlert] = field(default_factory=dict)
    last_ended: StoredAlert | None = None


@dataclass(slots=True)
class NewEpisode:
    """A row to insert: the alert as received and what the decisions made of it."""

    id: uuid.UUID
    fingerprint: str
    alert: Alert
    status: Status
    ends_at: datetime | None
    received_at: datetime
    expires_at: datetime | None
    occurrences: int = 1
    notified: dict[str, Any] = field(default_factory=dict)
    silenced_by: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """An open row the source resolved."""

    id: uuid.UUID
    ends_at: datetime | None


@dataclass(frozen=True, slots=True)
class ContentChange:
    """An open row whose severity or text moved: the new content is ``alert``'s."""

    id: uuid.UUID
    status: Status
    alert: Alert


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One history event of one alert."""

    alert_id: uuid.UUID
    kind: str
    at: datetime
    detail: dict[str, Any]

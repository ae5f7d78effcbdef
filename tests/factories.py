"""Builders for the domain objects tests make: the :class:`Alert` a source reports (and the
:class:`Keyed` alert dedup judges), the :class:`AlertSnapshot` stored with an outbox row and
the :class:`Notice` a channel sends, and the :class:`Planned` outbox row the pipeline
writes.

Every builder has defaults that make a plausible object and takes any field as a keyword
override. A test module that needs the same overrides in many places names them once
(``functools.partial`` over a builder, or a dict of fields) instead of writing a builder.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.model import Alert, Severity, Source, Status
from aggregator.notice import Action, AlertSnapshot, Notice, Planned, Reason
from aggregator.pipeline.identity import Keyed, fingerprint

STARTS_AT = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
RESOLVED_AFTER = timedelta(minutes=5)  # ends_at of a resolved alert that names none


def alert(n: int = 1, **fields: Any) -> Alert:
    """Alert number ``n``: a firing critical Alertmanager alert named ``Alert{n}`` whose
    identity is ``{"n": n}`` (another ``n`` is another problem).

    Derived unless given: ``identity`` is the labels when labels are given (what
    Alertmanager does), ``source_ref`` is ``{name}@{starts_at}`` (one episode per start,
    like Alertmanager's ``fingerprint@startsAt``), and a resolved alert ends
    ``RESOLVED_AFTER`` after it started.
    """
    values: dict[str, Any] = {
        "source": Source.ALERTMANAGER,
        "name": f"Alert{n}",
        "status": Status.FIRING,
        "severity": Severity.CRITICAL,
        "starts_at": STARTS_AT,
    }
    values.update(fields)
    values.setdefault("summary", f"{values['name']} summary")
    if "identity" not in values:
        values["identity"] = dict(values["labels"]) if "labels" in values else {"n": str(n)}
    values.setdefault("source_ref", f"{values['name']}@{values['starts_at'].isoformat()}")
    if values["status"] is Status.RESOLVED:
        values.setdefault("ends_at", values["starts_at"] + RESOLVED_AFTER)
    return Alert(**values)


def keyed(n: int = 1, **fields: Any) -> Keyed:
    """:func:`alert` with its fingerprint, as the pipeline hands it to dedup."""
    item = alert(n, **fields)
    return Keyed(item, fingerprint(item))


def snapshot(name: str = "KubePodNotReady", **fields: Any) -> AlertSnapshot:
    """A firing warning snapshot of a new alert (fresh ``id`` and ``fingerprint``, so two
    snapshots are two alerts unless a test gives them one fingerprint)."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "fingerprint": uuid.uuid4().hex,
        "source": Source.ALERTMANAGER,
        "name": name,
        "status": Status.FIRING,
        "severity": Severity.WARNING,
        "summary": f"{name} summary",
        "starts_at": STARTS_AT,
    }
    values.update(fields)
    return AlertSnapshot(**values)


def notice(*alerts: AlertSnapshot, channel: str = "mail", action: Action = Action.TRIGGER,
           reason: Reason = Reason.NEW,
           created_at: datetime = STARTS_AT + timedelta(hours=1)) -> Notice:
    """One send of ``action`` about ``alerts`` (none at all is allowed: channels refuse it)."""
    return Notice(channel=channel, action=action, reason=reason, alerts=alerts,
                  created_at=created_at)


def planned(alert: AlertSnapshot | None = None, *, channel: str = "pd",
            action: Action = Action.TRIGGER, reason: Reason = Reason.NEW,
            group_key: str | None = None) -> Planned:
    """The outbox row for ``action`` about ``alert`` (a fresh :func:`snapshot` when none)
    on ``channel``; by default in one group per channel and action, as one request makes."""
    alert = alert or snapshot()
    return Planned(alert_id=alert.id, fingerprint=alert.fingerprint, channel=channel,
                   action=action, reason=reason,
                   group_key=group_key or f"g1:{channel}:{action.value}", snapshot=alert)

"""Which notifications a change implies (pure): the outbox rows to write, per channel.

Only state changes notify: a new firing, a raised severity, a resolve, and a repeat once a
route's ``repeat_interval`` passed while nobody acknowledged. Silenced alerts notify
nobody; a resolve goes to every channel that got the firing (when its route sends
resolves), silenced or not, so no page is left open. Channels that get several alerts of
one request (mail) share a ``group_key``, and the worker sends them as one message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aggregator.channels import CHANNELS
from aggregator.config.routing import Match, NotificationSettings
from aggregator.model import Alert, Severity, Status, severity_rank
from aggregator.notice import Action, AlertSnapshot, Planned, Reason
from aggregator.pipeline.dedup import Decision, Verdict
from aggregator.pipeline.route import Target, silenced_by, targets
from aggregator.store.records import StoredAlert


@dataclass(slots=True)
class Plan:
    notifications: list[Planned] = field(default_factory=list)
    # alert id -> new value of ``notified`` / ``silenced_by`` (only alerts that changed)
    notified: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    silenced: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)


Silences = Sequence[tuple[uuid.UUID, Match]]


def snapshot(alert: Alert, stored: StoredAlert, *, acknowledged_by: str | None = None,
             acknowledged_at: datetime | None = None,
             comment: str | None = None) -> AlertSnapshot:
    return AlertSnapshot(
        id=stored.id, fingerprint=stored.fingerprint, source=alert.source, name=alert.name,
        status=stored.status, severity=alert.severity, summary=alert.summary,
        description=alert.description, resource=alert.resource, labels=alert.labels,
        annotations=alert.annotations, links=alert.links, starts_at=stored.starts_at,
        ends_at=stored.ends_at, occurrences=stored.occurrences,
        acknowledged_by=acknowledged_by, acknowledged_at=acknowledged_at, comment=comment,
    )


class Planner:
    """Plans the outbox rows of one unit of work (a request, an ack, a housekeeping pass)."""

    def __init__(self, settings: NotificationSettings, silences: Silences, now: datetime,
                 group: str) -> None:
        self.settings = settings
        self.silences = silences
        self.now = now
        self.group = group
        self.plan = Plan()
        self._notified: dict[uuid.UUID, dict[str, Any]] = {}
        self._silenced: dict[uuid.UUID, uuid.UUID | None] = {}

    # --- state kept across the decisions of one request -------------------------------------

    def _notified_of(self, stored: StoredAlert) -> dict[str, Any]:
        return self._notified.setdefault(stored.id, dict(stored.notified))

    def _silence_of(self, stored: StoredAlert) -> uuid.UUID | None:
        return self._silenced.get(stored.id, stored.silenced_by)

    def _set_silence(self, stored: StoredAlert, silence: uuid.UUID | None) -> None:
        if self._silence_of(stored) != silence:
            self._silenced[stored.id] = silence
            self.plan.silenced[stored.id] = silence

    def _emit(self, target: str, action: Action, reason: Reason, snap: AlertSnapshot) -> None:
        self.plan.notifications.append(Planned(
            alert_id=snap.id, fingerprint=snap.fingerprint, channel=target, action=action,
            reason=reason, group_key=f"{self.group}:{target}:{action.value}", snapshot=snap,
        ))

    def _trigger(self, stored: StoredAlert, snap: AlertSnapshot, chosen: Iterable[Target],
                 reason: Reason) -> None:
        notified = self._notified_of(stored)
        for target in chosen:
            self._emit(target.channel, Action.TRIGGER, reason, snap)
            notified[target.channel] = {"at": self.now.isoformat(),
                                        "send_resolved": target.send_resolved}
        self.plan.notified[stored.id] = notified

    def _active_silence(self, alert: Alert) -> uuid.UUID | None:
        found = silenced_by(self.silences, alert.source.value, alert.severity, alert.labels)
        return found if isinstance(found, uuid.UUID) else None

    # --- the rules -----------------------------------------------------------------------------

    def firing(self, alert: Alert, stored: StoredAlert, reason: Reason,
               *, acknowledged: bool = False) -> None:
        """A new firing (or one whose silence ended): trigger every routed channel."""
        silence = self._active_silence(alert)
        self._set_silence(stored, silence)
        if silence is not None or acknowledged:
            return
        chosen = targets(self.settings, alert.source.value, alert.severity, alert.labels)
        self._trigger(stored, snapshot(alert, stored), chosen, reason)

    def changed(self, alert: Alert, stored: StoredAlert, old_severity: str) -> None:
        raised = severity_rank(alert.severity) < severity_rank(Severity(old_severity))
        if not raised or stored.status is not Status.FIRING:
            return
        silence = self._active_silence(alert)
        self._set_silence(stored, silence)
        if silence is not None:
            return
        chosen = targets(self.settings, alert.source.value, alert.severity, alert.labels)
        self._trigger(stored, snapshot(alert, stored), chosen, Reason.SEVERITY_RAISED)

    def repeat(self, alert: Alert, stored: StoredAlert) -> None:
        if stored.status is not Status.FIRING or stored.acknowledged:
            return
        notified = self._notified_of(stored)
        due = [t for t in targets(self.settings, alert.source.value, alert.severity,
                                  alert.labels)
               if t.repeat_interval is not None
               and _elapsed(notified.get(t.channel), self.now, t.repeat_interval)]
        if not due:
            return
        silence = self._active_silence(alert)
        self._set_silence(stored, silence)
        if silence is None:
            self._trigger(stored, snapshot(alert, stored), due, Reason.REPEAT)

    def resolved(self, alert: Alert, stored: StoredAlert, reason: Reason = Reason.RESOLVED) -> None:
        """Resolve on every channel that got the firing, silenced or not."""
        snap = snapshot(alert, stored)
        for channel, info in sorted(self._notified_of(stored).items()):
            if isinstance(info, Mapping) and info.get("send_resolved", True):
                self._emit(channel, Action.RESOLVE, reason, snap)

    def acknowledged(self, alert: Alert, stored: StoredAlert, by: str,
                     comment: str | None) -> None:
        """Acknowledge on every channel that got the firing and knows acknowledgements."""
        snap = snapshot(alert, stored, acknowledged_by=by, acknowledged_at=self.now,
                        comment=comment)
        for channel in sorted(self._notified_of(stored)):
            config = self.settings.channels.get(channel)
            if config is not None and CHANNELS[config.type].acknowledges:
                self._emit(channel, Action.ACKNOWLEDGE, Reason.ACKNOWLEDGED, snap)

    def decisions(self, items: Iterable[Decision], *, group: str | None = None) -> Plan:
        """Apply the rules to the dedup decisions of one request, in order.

        ``group`` starts a new mail group (the next request of a shared transaction); what
        earlier decisions planned for an alert stays known, so a resolve later in the same
        transaction reaches the channels its firing was planned for.
        """
        if group is not None:
            self.group = group
        for decision in items:
            alert, stored = decision.keyed.alert, decision.target
            if decision.verdict is Verdict.NEW and stored.status is Status.FIRING:
                self.firing(alert, stored, Reason.NEW)
            elif decision.verdict is Verdict.CHANGED and "severity" in decision.changes:
                self.changed(alert, stored, str(decision.changes["severity"][0]))
            elif decision.verdict is Verdict.CHANGED or decision.verdict is Verdict.REPEAT:
                self.repeat(alert, stored)
            elif decision.verdict is Verdict.RESOLVED:
                self.resolved(alert, stored)
        return self.plan


def _elapsed(info: object, now: datetime, interval: timedelta) -> bool:
    if not isinstance(info, Mapping) or not isinstance(info.get("at"), str):
        return True
    try:
        last = datetime.fromisoformat(info["at"])
    except ValueError:
        return True
    return now - last >= interval

"""Alertmanager webhook (version 4) -> normalized alerts.

Pure: payload in, alerts out. Each entry of ``alerts[]`` is judged by its own ``status``
and timestamps, because a group whose ``status`` is firing can carry resolved alerts.
``endsAt`` of ``0001-01-01T00:00:00Z`` is Go's zero time and means "unset"; a resolved alert
without an end resolves at its receipt (``raw["ends_at_missing"]``). The regex-escaped
``receiver`` is kept as sent, and ``truncatedAlerts`` is recorded on every alert of the message
(and returned as ``Parsed.truncated``) so a reader knows the group was cut by ``max_alerts``.

An alert needs a non-empty label set and nothing more, as in Alertmanager's own API: a 4xx
would lose its page (Alertmanager sends the same message again at each group_interval, to be
refused again). Its name is the
``alertname`` label, else the ``summary`` annotation, else ``description``, else its sorted
labels (``k=v, ...``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aggregator.errors import PayloadError
from aggregator.model import Alert, Link, Severity, Source, Status
from aggregator.sources.spec import Parsed, SourceSpec, TokenPlace
from aggregator.sources.wire import first_error

_GO_ZERO_YEAR = 1

# The ``severity`` label (kubernetes-mixin values and common synonyms), without regard to case.
SEVERITY_BY_LABEL: dict[str, Severity] = {
    **dict.fromkeys(("critical", "page", "high", "p1"), Severity.CRITICAL),
    **dict.fromkeys(("error", "major", "p2"), Severity.ERROR),
    **dict.fromkeys(("warning", "warn", "minor", "medium", "p3"), Severity.WARNING),
    **dict.fromkeys(("info", "low", "none", "p4", "p5"), Severity.INFO),
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=False)


class _AlertmanagerAlert(_Wire):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class _AlertmanagerWebhook(_Wire):
    version: str = "4"
    receiver: str = ""
    status: str = ""
    alerts: list[_AlertmanagerAlert]
    group_key: str = Field(default="", alias="groupKey")
    external_url: str = Field(default="", alias="externalURL")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)


def severity_of(labels: dict[str, str], default: Severity) -> Severity:
    """Map the ``severity`` label; a missing or unknown one gives ``default``."""
    value = labels.get("severity")
    if value is None:
        return default
    return SEVERITY_BY_LABEL.get(value.strip().lower(), default)


def _links(alert: _AlertmanagerAlert) -> tuple[Link, ...]:
    links: list[Link] = []
    if alert.generator_url.startswith(("http://", "https://")):
        links.append(Link(href=alert.generator_url, text="Source (Prometheus)"))
    runbook = alert.annotations.get("runbook_url", "")
    if runbook.startswith(("http://", "https://")):
        links.append(Link(href=runbook, text="Runbook"))
    return tuple(links)


def _ends_at(alert: _AlertmanagerAlert) -> datetime | None:
    if alert.ends_at is None or alert.ends_at.year == _GO_ZERO_YEAR:
        return None
    return alert.ends_at


def _name(alert: _AlertmanagerAlert) -> str:
    """``alertname``, else the ``summary`` or ``description`` annotation (on one line), else
    the sorted labels: a name that says something, never a placeholder."""
    alertname = alert.labels.get("alertname", "")
    if alertname.strip():
        return alertname
    for key in ("summary", "description"):
        text = " ".join(alert.annotations.get(key, "").split())
        if text:
            return text
    return ", ".join(f"{name}={value}" for name, value in sorted(alert.labels.items()))


def parse(
    payload: object,
    *,
    received_at: datetime,
    default_severity: Severity = Severity.WARNING,
) -> Parsed:
    """Turn one webhook message into one alert per entry of ``alerts[]``; ``truncatedAlerts``
    is ``Parsed.truncated``."""
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object (an Alertmanager webhook message)")
    try:
        message = _AlertmanagerWebhook.model_validate(payload)
    except ValidationError as exc:
        field, text = first_error(exc)
        raise PayloadError(f"invalid Alertmanager webhook: {text}", field=field) from exc
    if message.version != "4":
        raise PayloadError(
            f"unsupported Alertmanager webhook version {message.version!r}; only version 4 "
            "is accepted",
            field="version",
        )
    raw_alerts: list[Any] = payload["alerts"]
    result: list[Alert] = []
    for index, entry in enumerate(message.alerts):
        if not entry.labels:
            raise PayloadError("every alert needs at least one label",
                               field=f"alerts.{index}.labels")
        for key in ("starts_at", "ends_at"):
            value = getattr(entry, key)
            if value is not None and value.tzinfo is None:
                wire_name = "startsAt" if key == "starts_at" else "endsAt"
                raise PayloadError("timestamps must carry a timezone (RFC 3339)",
                                   field=f"alerts.{index}.{wire_name}")
        status = Status(entry.status)
        ends_at = _ends_at(entry)
        raw: dict[str, Any] = {
            "alert": raw_alerts[index],
            "receiver": message.receiver,
            "group_key": message.group_key,
            "external_url": message.external_url,
            "truncated_alerts": message.truncated_alerts,
        }
        if status is Status.RESOLVED and ends_at is None:
            # Resolved without an end (no endsAt, or Go's zero time): refusing it would leave
            # the open alert firing for good, so it ends when it was received (never before it
            # started), and raw says the sender gave no end.
            ends_at = max(received_at, entry.starts_at)
            raw["ends_at_missing"] = True
        result.append(
            Alert(
                source=Source.ALERTMANAGER,
                source_ref=f"{_label_fingerprint(entry)}@{entry.starts_at.isoformat()}",
                name=_name(entry),
                status=status,
                severity=severity_of(entry.labels, default_severity),
                summary=entry.annotations.get("summary", "")
                or entry.annotations.get("message", ""),
                description=entry.annotations.get("description", ""),
                resource=_resource(entry.labels),
                labels=dict(entry.labels),
                annotations=dict(entry.annotations),
                links=_links(entry),
                starts_at=entry.starts_at,
                ends_at=ends_at if status is Status.RESOLVED else None,
                identity=dict(entry.labels),
                raw=raw,
            )
        )
    return Parsed(result, truncated=message.truncated_alerts)


def _label_fingerprint(alert: _AlertmanagerAlert) -> str:
    """Alertmanager's own fingerprint when sent, else the same FNV-1a 64 over the labels."""
    if alert.fingerprint:
        return alert.fingerprint
    value = 0xCBF29CE484222325
    for name in sorted(alert.labels):
        for chunk in (name.encode(), b"\xff", alert.labels[name].encode(), b"\xff"):
            for byte in chunk:
                value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def _resource(labels: dict[str, str]) -> str:
    """The most specific Kubernetes object the labels name, e.g. ``payments/pod/api-0``."""
    namespace = labels.get("namespace", "")
    for kind in ("pod", "deployment", "statefulset", "daemonset", "job_name", "node",
                 "persistentvolumeclaim", "service", "instance"):
        if labels.get(kind):
            prefix = f"{namespace}/" if namespace and kind != "node" else ""
            return f"{prefix}{kind}/{labels[kind]}"
    return namespace


SPEC = SourceSpec(
    source=Source.ALERTMANAGER,
    parse=parse,
    wire_model=_AlertmanagerWebhook,
    path="/webhooks/alertmanager",
    summary="Receive an Alertmanager webhook (version 4)",
    token_places=(TokenPlace.BEARER,),
    token_hint="Authorization: Bearer <token>",  # noqa: S106 (how to send it, not a token)
)

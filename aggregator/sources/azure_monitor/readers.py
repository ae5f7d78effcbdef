"""Small readers every Azure Monitor payload shape shares (private to ``azure_monitor``).

Owns: severity, level, status and time readers, the reasons a required field fails
(``lacks_text``, ``lacks_choice``, ``lacks_time``), text and label helpers (one line, HTML
stripped, JSON-ish values as label text, sorted identity parts), the ARM resource-ID parser and
the ``azure_*`` labels it gives, ``family_key`` (the spelling-blind lookup key), links
(http(s) only, the Alerts-Management portal link, Smart Detection anchors) and ``aware``. The
wire-model base is ``aggregator.sources.wire``; assembling an ``Alert`` is ``draft``.

Must not: import another module of this package, do I/O, read settings, log, or raise.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from aggregator.model import Link, Severity, Status
from aggregator.sources.wire import number_text

SUMMARY_LIMIT = 300
_PORTAL_ALERT = (
    "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/AlertDetails.ReactView/alertId/"
)


# --- scalar readers -------------------------------------------------------------------------

_SEVERITIES = {
    "sev0": Severity.CRITICAL, "0": Severity.CRITICAL, "critical": Severity.CRITICAL,
    "sev1": Severity.ERROR, "1": Severity.ERROR, "error": Severity.ERROR,
    "sev2": Severity.WARNING, "2": Severity.WARNING, "warning": Severity.WARNING,
    "sev3": Severity.INFO, "3": Severity.INFO, "sev4": Severity.INFO, "4": Severity.INFO,
    "informational": Severity.INFO, "info": Severity.INFO, "verbose": Severity.INFO,
}
# Activity-log ``level``: words, or the numeric EventLevel enum (1 Critical .. 5 Verbose).
_LEVELS = {
    "critical": Severity.CRITICAL, "1": Severity.CRITICAL,
    "error": Severity.ERROR, "2": Severity.ERROR,
    "warning": Severity.WARNING, "3": Severity.WARNING,
    "informational": Severity.INFO, "4": Severity.INFO,
    "verbose": Severity.INFO, "5": Severity.INFO,
}
# Defender for Cloud alert severity, found in Security activity-log events.
_SECURITY_SEVERITIES = {
    "critical": Severity.CRITICAL, "high": Severity.ERROR, "medium": Severity.WARNING,
    "low": Severity.INFO, "informational": Severity.INFO,
}
# Log Analytics' scale, lowest to highest: Low (info), Medium (warning), High (critical).
_LOG_SEARCH_SEVERITIES = {
    "low": Severity.INFO, "medium": Severity.WARNING, "high": Severity.CRITICAL,
}
_STATUSES = {
    "fired": Status.FIRING, "activated": Status.FIRING, "active": Status.FIRING,
    "resolved": Status.RESOLVED, "deactivated": Status.RESOLVED,
}


def plain_key(value: str | None) -> str:
    """Whitespace removed and case folded: the form every lookup key is compared in."""
    return re.sub(r"\s+", "", value).casefold() if value else ""


def severity_from(value: str | None) -> Severity | None:
    """``Sev0``..``Sev4``, bare digits ``"0"``..``"4"`` or words; ``None`` if unknown."""
    return _SEVERITIES.get(plain_key(value))


def severity_from_log_search(value: str | None) -> Severity | None:
    """Legacy log search alerts: the digits or words of ``severity_from``, or Log Analytics'
    own scale (older OMS alerts, upgraded workspaces): High, Medium, Low."""
    return severity_from(value) or _LOG_SEARCH_SEVERITIES.get(plain_key(value))


def severity_from_level(value: str | None) -> Severity | None:
    return _LEVELS.get(plain_key(value))


def severity_from_security(value: str | None) -> Severity | None:
    return _SECURITY_SEVERITIES.get(plain_key(value))


def status_from(value: str | None) -> Status:
    """Fired/Activated -> firing, Resolved/Deactivated -> resolved; unknown -> firing."""
    return _STATUSES.get(plain_key(value), Status.FIRING)


_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_US_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")


def parse_time(value: str | None) -> datetime | None:
    """ISO-8601 (any fraction length, ``Z``/offset) or US ``3/22/2019 1:36:31 PM``, as UTC.

    Naive times are taken as UTC. Anything else gives ``None`` (the caller falls back).
    """
    if not value:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text) if _ISO.fullmatch(text) else _parse_us(text)
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _parse_us(text: str) -> datetime | None:
    for fmt in _US_FORMATS:
        try:
            return datetime.strptime(text, fmt)  # naive: made UTC by the caller
        except ValueError:
            continue
    return None


def one_line(text: str | None, limit: int = SUMMARY_LIMIT) -> str:
    """Whitespace collapsed, cut at ``limit`` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def strip_html(text: str | None) -> str:
    """Service Health communications are HTML; keep the words."""
    if not text:
        return ""
    without_tags = re.sub(r"<[^>]*>", " ", text)
    return "\n".join(" ".join(line.split()) for line in html.unescape(without_tags).splitlines()
                     if line.strip())


def label_text(value: object) -> str:
    """Label values are strings: strings as they are, ``None`` as "", the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, float):
        return number_text(value)
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return "<unrepresentable>"


def text_map(values: dict[str, Any] | None) -> dict[str, str]:
    return {key: label_text(value) for key, value in (values or {}).items() if key}


def joined(items: list[str]) -> str:
    """A multi-valued identity part: sorted, as a compact JSON array (unambiguous)."""
    return json.dumps(sorted(items), separators=(",", ":"), ensure_ascii=False)


def is_truthy(value: str | None) -> bool:
    return plain_key(value) in {"true", "1", "yes"}


# --- what a real alert always carries (reasons for ``wire.require``) -------------------------

COMMON_SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")


def lacks_text(value: str | None) -> str | None:
    """Why ``value`` is no required text, or ``None`` when it is one."""
    return None if value and value.strip() else "is required"


def lacks_choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    """Why ``value`` is none of ``allowed`` (compared as ``plain_key``), or ``None``."""
    if not value or not value.strip():
        return "is required"
    if plain_key(value) in {plain_key(choice) for choice in allowed}:
        return None
    return f"must be {', '.join(allowed[:-1])} or {allowed[-1]}"


def lacks_time(value: str | None) -> str | None:
    """Why ``value`` is no time ``parse_time`` can read, or ``None``."""
    if not value or not value.strip():
        return "is required"
    return None if parse_time(value) else "must be a date and time (ISO 8601)"


# --- ARM resource IDs -----------------------------------------------------------------------


@dataclass(frozen=True)
class ArmId:
    subscription: str = ""
    resource_group: str = ""
    resource_type: str = ""
    resource_name: str = ""


def parse_arm_id(resource_id: str | None) -> ArmId:
    """Split ``/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/...]``.

    Segment names match without regard to case; anything missing stays "". Nested types
    follow ARM (``ns/servers/databases``, ``srv/db``); a second ``providers`` ends the resource.
    """
    segments = [part for part in (resource_id or "").split("/") if part]
    lowered = [part.casefold() for part in segments]
    subscription = _segment_after(segments, lowered, "subscriptions")
    resource_group = _segment_after(segments, lowered, "resourcegroups")
    resource_type = resource_name = ""
    if "providers" in lowered:
        rest = segments[lowered.index("providers") + 1:]
        rest_lowered = lowered[lowered.index("providers") + 1:]
        if "providers" in rest_lowered:
            rest = rest[: rest_lowered.index("providers")]
        if rest:
            kinds, names = rest[1::2], rest[2::2]
            if kinds:
                resource_type = "/".join([rest[0], *kinds])
            resource_name = "/".join(names)
    return ArmId(subscription, resource_group, resource_type, resource_name)


def _segment_after(segments: list[str], lowered: list[str], key: str) -> str:
    if key not in lowered:
        return ""
    index = lowered.index(key) + 1
    return segments[index] if index < len(segments) else ""


def arm_labels(resource_id: str | None) -> dict[str, str]:
    arm = parse_arm_id(resource_id)
    pairs = {
        "azure_subscription_id": arm.subscription,
        "azure_resource_group": arm.resource_group,
        "azure_resource_type": arm.resource_type,
        "azure_resource_name": arm.resource_name,
    }
    return {key: value for key, value in pairs.items() if value}


def fill_missing(labels: dict[str, str], **fallbacks: str | None) -> None:
    """Set each ``fallbacks`` label that ``labels`` lacks (explicit payload fields)."""
    for key, value in fallbacks.items():
        if value and key not in labels:
            labels[key] = value


def azure_labels_for(resource: str, *, service: str, signal: str | None,
                     **explicit: str | None) -> dict[str, str]:
    """ARM labels parsed from ``resource``, explicit payload fields filling the gaps."""
    labels = arm_labels(resource)
    fill_missing(labels, **explicit)
    fill_missing(labels, azure_monitoring_service=service, azure_signal_type=signal)
    return labels


def family_key(value: str | None) -> str:
    """``"Activity Log - Administrative"`` -> ``"activitylogadministrative"``."""
    return re.sub(r"[\s_\-\u2010-\u2015]+", "", value or "").casefold()


def normalized_signal_type(value: str | None) -> str | None:
    known = {"metric": "Metric", "log": "Log", "activitylog": "Activity Log"}
    if not value or not value.strip():
        return None
    return known.get(re.sub(r"[\s_\-]+", "", value).casefold(), value.strip())


# --- links ------------------------------------------------------------------------------------


def http_link(href: str | None, text: str) -> Link | None:
    """A ``Link`` only for absolute http(s) URLs."""
    if not href or not href.strip():
        return None
    href = href.strip()
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if parts.scheme.casefold() not in {"http", "https"} or not parts.netloc:
        return None
    return Link(href=href, text=text)


def alert_portal_link(alert_id: str | None) -> Link | None:
    """Portal page of an Alerts-Management alert (``…/Microsoft.AlertsManagement/alerts/{id}``)."""
    if not alert_id or "/providers/microsoft.alertsmanagement/alerts/" not in alert_id.casefold():
        return None
    return Link(href=_PORTAL_ALERT + quote(alert_id, safe="", errors="replace"),
                text="Alert in Azure portal")


_ANCHOR = re.compile(r"<a\s+href=\"(?P<href>.+?)\"(?:\s+target=\"[^\"]*\")?\s*>(?P<text>.*?)</a>",
                     re.IGNORECASE | re.DOTALL)


def anchor_link(fragment: str | None) -> Link | None:
    """The link inside an ``<a href="...">text</a>`` fragment (Smart Detection LinksTable)."""
    match = _ANCHOR.search(fragment or "")
    if match is None:
        return http_link(fragment, "Details")
    return http_link(match["href"], one_line(strip_html(match["text"])) or "Details")


def aware(moment: datetime) -> datetime:
    """``received_at`` as UTC; a naive value is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

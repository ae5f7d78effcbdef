"""Fingerprints: the stable name of a *problem*, hashed from the source and its identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from aggregator.model import Alert


def fingerprint(alert: Alert) -> str:
    """sha256 hex (64 chars, so it also fits PagerDuty's 255-char ``dedup_key``).

    Built from the source and the alert's identity only: Alertmanager's full label set (so
    an HA pair's copies merge), Azure's rule id + targets + dimensions (+ trackingId).
    """
    material = json.dumps([alert.source.value, sorted(alert.identity.items())],
                          separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Keyed:
    alert: Alert
    fingerprint: str


def keyed(alerts: list[Alert]) -> list[Keyed]:
    return [Keyed(alert, fingerprint(alert)) for alert in alerts]

"""Routing (pure): which channels hear about an alert, and whether a silence holds it.

Routes are tried in order; the first that matches wins unless it says ``continue``; the
default route applies when none matched. Silences use the same ``Match`` conditions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from aggregator.config.routing import LabelMatcher, Match, NotificationSettings
from aggregator.model import Severity, severity_rank


@dataclass(frozen=True, slots=True)
class Target:
    """A channel chosen for an alert, with the options of the route that chose it."""

    channel: str
    repeat_interval: timedelta | None
    send_resolved: bool


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def label_matches(matcher: LabelMatcher, labels: Mapping[str, str]) -> bool:
    value = labels.get(matcher.name, "")
    if matcher.op == "=":
        return value == matcher.value
    if matcher.op == "!=":
        return value != matcher.value
    found = _regex(matcher.value).fullmatch(value) is not None
    return found if matcher.op == "=~" else not found


def matches(match: Match, source: str, severity: Severity, labels: Mapping[str, str]) -> bool:
    if match.source is not None and source not in match.source:
        return False
    if match.severity is not None and severity not in match.severity:
        return False
    if match.min_severity is not None and severity_rank(severity) > severity_rank(
            match.min_severity):
        return False
    return all(label_matches(m, labels) for m in match.labels)


def targets(settings: NotificationSettings, source: str, severity: Severity,
            labels: Mapping[str, str]) -> list[Target]:
    """The channels for an alert, each once (the first route naming it sets its options)."""
    chosen: dict[str, Target] = {}
    matched = False
    for route in settings.routes:
        if not matches(route.match, source, severity, labels):
            continue
        matched = True
        for channel in route.channels:
            chosen.setdefault(channel, Target(channel, route.repeat_interval,
                                              route.send_resolved))
        if not route.continue_:
            break
    if not matched:
        route = settings.default_route
        for channel in route.channels:
            chosen.setdefault(channel, Target(channel, route.repeat_interval,
                                              route.send_resolved))
    return list(chosen.values())


def silenced_by(silences: Sequence[tuple[object, Match]], source: str, severity: Severity,
                labels: Mapping[str, str]) -> object | None:
    """The id of the first active silence that matches, or None."""
    for silence_id, match in silences:
        if matches(match, source, severity, labels):
            return silence_id
    return None

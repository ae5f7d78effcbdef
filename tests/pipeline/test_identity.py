"""Fingerprints name the problem: stable across episodes, blind to everything but identity."""

from __future__ import annotations

from datetime import UTC, datetime

from aggregator.model import Alert, Severity, Source, Status
from aggregator.pipeline.identity import fingerprint

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def make(identity: dict[str, str], **kw: object) -> Alert:
    fields: dict[str, object] = {
        "source": Source.ALERTMANAGER, "source_ref": "r", "name": "A", "status": Status.FIRING,
        "severity": Severity.WARNING, "starts_at": T0, "identity": identity,
    }
    fields.update(kw)
    return Alert.model_validate(fields)


def test_fingerprint_ignores_everything_but_source_and_identity() -> None:
    a = make({"alertname": "A", "pod": "p"})
    b = make({"pod": "p", "alertname": "A"}, source_ref="other", status=Status.RESOLVED,
             ends_at=T0, summary="changed", severity=Severity.CRITICAL, raw={"x": 1})
    assert fingerprint(a) == fingerprint(b)
    assert len(fingerprint(a)) == 64


def test_fingerprint_differs_by_identity_and_source() -> None:
    a = make({"alertname": "A", "pod": "p"})
    assert fingerprint(a) != fingerprint(make({"alertname": "A", "pod": "q"}))
    assert fingerprint(a) != fingerprint(make({"alertname": "A", "pod": "p"},
                                              source=Source.AZURE_MONITOR))
    # a key/value split that would collide under naive concatenation
    assert fingerprint(make({"ab": "c"})) != fingerprint(make({"a": "bc"}))

"""Prometheus metrics of one service instance, on a registry of its own (no import-time globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "aggregator_http_requests", "HTTP requests by route, method and status code",
            ["route", "method", "code"], registry=self.registry,
        )
        self.alerts = Counter(
            "aggregator_alerts", "Alerts received, by source and outcome "
            "(new, repeat, changed, resolved, stale)",
            ["source", "outcome"], registry=self.registry,
        )
        self.rejected = Counter(
            "aggregator_rejected_payloads", "Webhook bodies refused (and kept), by source and code",
            ["source", "code"], registry=self.registry,
        )
        self.unavailable = Counter(
            "aggregator_webhook_unavailable", "Webhook requests answered 503, by source and reason",
            ["source", "reason"], registry=self.registry,
        )
        self.truncated = Counter(
            "aggregator_alertmanager_truncated_alerts",
            "Alerts Alertmanager left out of its messages (max_alerts)", registry=self.registry,
        )
        self.housekeeping = Counter(
            "aggregator_housekeeping_rows", "Rows changed by housekeeping (expired, deleted)",
            ["action"], registry=self.registry,
        )
        self.notifications = Counter(
            "aggregator_notifications", "Notification attempts by channel and outcome "
            "(sent, pending = retry later, dead, lease_lost)",
            ["channel", "outcome"], registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "aggregator_notification_attempt_seconds", "Time of one send, by channel",
            ["channel"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.outbox = Gauge(
            "aggregator_outbox_notifications", "Notifications in the outbox by status",
            ["status"], registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "aggregator_outbox_oldest_pending_seconds",
            "Age of the oldest notification not yet sent", registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            "aggregator_ingest_seconds", "Time to parse and commit one webhook request, by source",
            ["source"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )

        self.ingest_batch = Histogram(
            "aggregator_ingest_batch_requests",
            "Webhook requests committed together in one ingest transaction (group commit)",
            registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

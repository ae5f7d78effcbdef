"""Unified alert aggregator: Alertmanager and Azure Monitor webhooks in, one history out."""

__version__ = "0.1.0"

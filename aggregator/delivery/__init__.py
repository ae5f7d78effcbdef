"""Delivery: the outbox worker and its (pure) backoff policy."""

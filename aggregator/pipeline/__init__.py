"""Ingest pipeline: identity -> dedup -> persist, in one transaction (order in ``ingest.py``)."""

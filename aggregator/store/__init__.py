"""Persistence: SQLAlchemy tables, engine setup, repositories (which never commit)."""

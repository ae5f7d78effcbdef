"""Helpers shared by the source wire models: turning pydantic errors into field paths."""

from __future__ import annotations

from pydantic import ValidationError


def first_error(exc: ValidationError) -> tuple[str, str]:
    """The dotted location and message of the first validation error, for ``PayloadError``."""
    errors = exc.errors(include_url=False)
    if not errors:
        return "", str(exc)
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"])
    return field, f"{field}: {first['msg']}" if field else str(first["msg"])

"""Helpers shared by the source wire models: a pydantic ``ValidationError`` as the dotted field
path and reason of its first error, ready for ``PayloadError``.

Must not: know any one source's payload, do I/O or log.
"""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from aggregator.errors import PayloadError

# Plain words for the error types senders meet most; any other type keeps pydantic's message.
_REASONS = {
    "missing": "is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "string_type": "must be a string",
}


def _first(exc: ValidationError, *, at: str = "") -> tuple[str, ErrorDetails | None]:
    """The first error (``None`` if there is none) and its dotted path, ``at`` + its ``loc``."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    error = errors[0] if errors else None
    loc = [str(part) for part in error["loc"]] if error else []
    return ".".join([part for part in at.split(".") if part] + loc), error


def first_error(exc: ValidationError) -> tuple[str, str]:
    """The dotted location and message of the first validation error, for ``PayloadError``."""
    field, error = _first(exc)
    if error is None:
        return "", str(exc)
    return field, f"{field}: {error['msg']}" if field else str(error["msg"])


def payload_error(exc: ValidationError, *, at: str, shape: str) -> PayloadError:
    """The first error as ``"<shape>: field '<at>.<loc>' <reason>."``; the root is ``$``."""
    path, error = _first(exc, at=at)
    reason = (_REASONS.get(error["type"], error["msg"].removeprefix("Value error, "))
              if error else "is invalid")
    field = path or "$"
    return PayloadError(f"{shape}: field '{field}' {reason}.", field=field)

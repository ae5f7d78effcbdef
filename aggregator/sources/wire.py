"""What the source wire models share: the lenient ``WireModel`` base (keys matched without
regard to case, camelCase aliases, numbers accepted as text), ``validate``, a pydantic
``ValidationError`` as the dotted field path and reason of its first error, ready for
``PayloadError``, and ``require``, the refusal of fields a model accepts but a real body
always has.

Must not: know any one source's payload, do I/O or log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel
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


def require(shape: str, checks: Iterable[tuple[str, str | None]]) -> None:
    """Refuse a body whose fields fail their checks: each pair is a dotted field and why it
    fails (``None``: it does not). ``PayloadError`` names the first; the message lists all."""
    failed = [(field, reason) for field, reason in checks if reason is not None]
    if not failed:
        return
    (field, reason), rest = failed[0], failed[1:]
    also = "".join(f" Also '{other}' {why}." for other, why in rest)
    raise PayloadError(f"{shape}: field '{field}' {reason}.{also}", field=field)


def payload_error(exc: ValidationError, *, at: str, shape: str) -> PayloadError:
    """The first error as ``"<shape>: field '<at>.<loc>' <reason>."``; the root is ``$``."""
    path, error = _first(exc, at=at)
    reason = (_REASONS.get(error["type"], error["msg"].removeprefix("Value error, "))
              if error else "is invalid")
    field = path or "$"
    return PayloadError(f"{shape}: field '{field}' {reason}.", field=field)


# --- wire-model base ------------------------------------------------------------------------


def number_text(value: float) -> str:
    """``5.0`` -> ``"5"``, ``78.09`` -> ``"78.09"`` (metric values arrive as JSON numbers)."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _to_text(value: object) -> object:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value)
    raise ValueError("must be a string or a number, not an object or array")


Text = Annotated[str | None, BeforeValidator(_to_text)]
"""A scalar the sender may spell as a string or a number (``"3"`` vs ``3``)."""

JsonMap = dict[str, Any] | None


class WireModel(BaseModel):
    """Base of every Azure wire model: unknown keys ignored, camelCase aliases, and key
    lookup without regard to case (``alertRuleID``/``alertRuleId``, ``SearchQuery``)."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _fold_key_case(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        wanted = {(info.alias or name).casefold(): info.alias or name
                  for name, info in cls.model_fields.items()}
        folded = dict(data)
        for key, value in data.items():
            alias = wanted.get(key.casefold()) if isinstance(key, str) else None
            if alias is not None and alias not in folded:
                folded[alias] = value
        return folded


_M = TypeVar("_M", bound=BaseModel)


def validate(model: type[_M], value: object, *, at: str, shape: str) -> _M:
    """``model.model_validate(value)``; failures become ``PayloadError`` at ``at.<loc>``."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise payload_error(exc, at=at, shape=shape) from None

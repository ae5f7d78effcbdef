"""The JSON acceptance policy of every webhook body: bytes in, a JSON value out (pure).

Refused, as :class:`~aggregator.errors.PayloadError` with the status and code the sender
gets: another media type than JSON (415), bytes that are not UTF-8 or not JSON, the
non-standard constants ``NaN``/``Infinity``, numbers out of range, nesting deeper than the
parser can go (400). Strings PostgreSQL cannot store (U+0000, lone UTF-16 surrogates, both
valid JSON escapes) become U+FFFD instead of refusing the alert they are in.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aggregator.errors import PayloadError

_JSON_TYPES = ("application/json", "text/json")

# A NUL or a UTF-16 surrogate can only reach a JSON string as an escape: look for those.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _reject_on_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def storable(text: str) -> str:
    """``text`` with U+0000 and lone surrogates replaced by U+FFFD: PostgreSQL cannot store
    them and they cannot be encoded as UTF-8 (the fingerprint hashes UTF-8)."""
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def storable_value(value: Any) -> Any:
    """Every string of a JSON value made :func:`storable`, keys included."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [storable_value(item) for item in value]
    if isinstance(value, dict):
        return {storable_value(k): storable_value(v) for k, v in value.items()}
    return value


def check_media_type(content_type: str) -> None:
    """``content_type`` is the request's media type, ``""`` when it sent none (accepted)."""
    if content_type and not (content_type in _JSON_TYPES or content_type.endswith("+json")):
        raise PayloadError(f"Content-Type must be application/json, not {content_type}",
                           status=415, code="unsupported_media_type")


def decode(body: bytes, content_type: str) -> object:
    """The JSON value of a webhook body, or :class:`PayloadError` (see the module)."""
    check_media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8 (byte {exc.start})", status=400,
                           code="invalid_json") from exc
    try:
        payload = json.loads(text, parse_constant=_reject_on_constant, parse_float=_finite)
    except RecursionError as exc:
        raise PayloadError("JSON nested too deeply", status=400, code="invalid_json") from exc
    except ValueError as exc:
        raise PayloadError(f"body is not valid JSON: {exc}", status=400,
                           code="invalid_json") from exc
    # Walk the payload only when such an escape occurs (almost never).
    return storable_value(payload) if _UNSTORABLE_ESCAPE.search(text) else payload

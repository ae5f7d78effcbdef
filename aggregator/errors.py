"""The service's exception tree. Normal outcomes (repeat, stale, no route) are values, not errors.

::

    AggregatorError
    ├── PayloadError          a payload that will never be accepted (400/422), names the field
    ├── AuthError             missing or wrong token (401) / role too weak (403)
    ├── TransientError        retry later (503 + Retry-After): database down, locked, pool exhausted
    │   └── WriteConflictError   a constraint refused a concurrent write: retry alone, then 503
    ├── NotFoundError         the thing named in the path does not exist (404)
    ├── ConflictError         the request does not fit the current state (409)
    ├── ConfigError           settings that cannot work; raised at start or by ``check-config``
    └── DeliveryError         a channel's send failed (the worker records it, never the API)
        ├── RetryableError    try again later (network, timeout, 429, 5xx, SMTP 4xx)
        └── PermanentError    will never succeed as sent (PagerDuty 400, SMTP 5xx)
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Root of every error the service raises on purpose."""


class PayloadError(AggregatorError):
    """The body can never be accepted as sent.

    ``status`` is 400 for bodies that are not JSON at all, 413 above the size limit, 415 for
    another media type and 422 for JSON that does not match the source's schema (or a value
    the database refuses); ``field`` is the dotted path of the offending field; ``code`` the
    machine-readable error code when it is not derived from the status.
    """

    def __init__(self, message: str, *, field: str | None = None, status: int = 422,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.code = code


class AuthError(AggregatorError):
    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientError(AggregatorError):
    """The request could succeed later; answered 503 with ``Retry-After``."""

    def __init__(self, message: str, *, retry_after: int = 5, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        #: what failed underneath (the driver's error class), for metrics and logs
        self.reason = reason or type(self).__name__


class WriteConflictError(TransientError):
    """A constraint refused a write that the locks should have made impossible: when a shared
    transaction hits it, each request is worth a transaction of its own."""


class ConfigError(AggregatorError):
    """Settings that cannot work; the message names the setting."""


class NotFoundError(AggregatorError):
    """The alert, notification or silence named does not exist (404)."""


class ConflictError(AggregatorError):
    """The request does not fit the current state, e.g. acknowledging a resolved alert (409)."""


class DeliveryError(AggregatorError):
    """A send failed. ``status_code`` is the remote's answer when there was one."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class RetryableError(DeliveryError):
    """Try again later (network, timeout, 429, 5xx, SMTP 4xx). ``retry_after`` in seconds."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Will never succeed as sent (PagerDuty 400, SMTP 5xx on a recipient, bad template)."""

"""Remote status codes as data: which answers of a remote a channel retries, which are final.

Each channel declares one :class:`StatusTable` (HTTP statuses for PagerDuty, SMTP reply
codes for mail) and its error translation reads it instead of branching on codes; the
channel contract test reads the same tables. A table is total: a code no rule names gets
the table's ``default``.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from aggregator.errors import DeliveryError, PermanentError, RetryableError


@dataclass(frozen=True)
class StatusRule:
    """How one group of codes is treated. ``text`` is the error text (``str.format`` with
    ``status`` and whatever the channel passes); ``retry_after``: the remote's Retry-After is
    honoured (only where the remote documents it, e.g. a rate limit)."""

    codes: Container[int]
    retry: bool
    text: str = "{reason}"
    retry_after: bool = False


@dataclass(frozen=True)
class StatusTable:
    """Rules tried in order; the first naming a code decides, else ``default``."""

    rules: tuple[StatusRule, ...]
    default: StatusRule

    def rule(self, code: int) -> StatusRule:
        for rule in self.rules:
            if code in rule.codes:
                return rule
        return self.default

    def retries(self, code: int) -> bool:
        """Whether an error carrying ``code`` is tried again later."""
        return self.rule(code).retry

    def error(self, code: int, text: str | None = None, *, retry_after: float | None = None,
              **fields: object) -> DeliveryError:
        """The error for ``code``: ``text``, or the rule's text filled with ``fields``.
        ``retry_after`` is kept only when the rule honours it."""
        rule = self.rule(code)
        message = text if text is not None else rule.text.format(status=code, **fields)
        if rule.retry:
            return RetryableError(message, status_code=code,
                                  retry_after=retry_after if rule.retry_after else None)
        return PermanentError(message, status_code=code)

"""What the rest of the service knows about one sender: :class:`SourceSpec` (its parser, the
wire model OpenAPI shows, its webhook path and summary, where it can put its token and how to
tell it so), the :class:`Parser` protocol and :class:`Parsed`, what a parser returns.

Must not: import a source module (they import this one), do I/O or log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from aggregator.model import Alert, Severity, Source


class TokenPlace(enum.StrEnum):
    """Where a sender can carry its webhook token."""

    BEARER = "bearer"   # Authorization: Bearer <token>
    QUERY = "query"     # ?token=<token> in the URL
    BASIC = "basic"     # https://user:<token>@host/... (basic-auth password)


@dataclass(frozen=True, slots=True)
class Parsed:
    """The alerts of one webhook body."""

    alerts: list[Alert]
    truncated: int = 0   # alerts the sender left out (Alertmanager truncatedAlerts); 0 elsewhere


class Parser(Protocol):
    """Pure: one decoded JSON body -> :class:`Parsed`; ``PayloadError`` for a body that can
    never be accepted, never any other exception."""

    def __call__(self, payload: object, *, received_at: datetime,
                 default_severity: Severity) -> Parsed: ...


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Everything source-specific outside the source's own module."""

    source: Source
    parse: Parser
    wire_model: type[BaseModel]        # what OpenAPI describes as the request body
    path: str                          # the webhook route, "/webhooks/<name>"
    summary: str                       # one line for OpenAPI
    token_places: tuple[TokenPlace, ...]   # where the sender can put its token
    token_hint: str                    # how to send it, for the 401 message

"""What the service knows of a source: its parser, wire model, URL and token places."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from aggregator.model import Alert, Severity, Source


class TokenPlace(enum.StrEnum):
    BEARER = "bearer"
    QUERY = "query"
    BASIC = "basic"


@dataclass(frozen=True, slots=True)
class Parsed:
    alerts: list[Alert]
    truncated: int = 0


class Parser(Protocol):
    def __call__(self, payload: object, *, received_at: datetime,
                 default_severity: Severity) -> Parsed: ...


@dataclass(frozen=True, slots=True)
class SourceSpec:
    source: Source
    parse: Parser
    wire_model: type[BaseModel]
    path: str
    summary: str
    token_places: tuple[TokenPlace, ...]
    token_hint: str

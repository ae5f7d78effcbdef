"""The ``SOURCES`` registry contract: every sender is complete (a spec, fixtures that its wire
model and parser accept, a unique webhook path, token places and hints) and served as its
spec says. Parametrized over the registry, so a new source is covered without a new test."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator.model import Severity, Source
from aggregator.sources import SOURCES, Parsed, SourceSpec, TokenPlace
from tests.api.helpers import Client
from tests.helpers import PAYLOADS, load_payload

NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


def fixtures_of(source: Source) -> list[Path]:
    return sorted((PAYLOADS / source.value).glob("*.json"))


FIXTURE_FILES = [(source, path) for source in SOURCES for path in fixtures_of(source)]


def test_every_source_has_a_spec() -> None:
    assert set(SOURCES) == set(Source)


@pytest.mark.parametrize("source", list(SOURCES), ids=str)
def test_spec_is_complete(source: Source) -> None:
    spec = SOURCES[source]
    assert isinstance(spec, SourceSpec)
    assert spec.source is source
    assert spec.path.startswith("/webhooks/")
    assert spec.token_places
    assert all(isinstance(place, TokenPlace) for place in spec.token_places)
    assert len(set(spec.token_places)) == len(spec.token_places)
    assert spec.summary.strip() and "\n" not in spec.summary
    assert spec.token_hint.strip()


def test_webhook_paths_are_unique() -> None:
    paths = [spec.path for spec in SOURCES.values()]
    assert len(set(paths)) == len(paths)


@pytest.mark.parametrize("source", list(SOURCES), ids=str)
def test_source_has_fixtures(source: Source) -> None:
    assert (PAYLOADS / source.value).is_dir()
    assert fixtures_of(source), f"no JSON fixture in tests/fixtures/payloads/{source.value}/"


@pytest.mark.parametrize(("source", "path"), FIXTURE_FILES,
                         ids=[f"{source}-{path.stem}" for source, path in FIXTURE_FILES])
def test_fixture_fits_the_wire_model_and_parses(source: Source, path: Path) -> None:
    spec = SOURCES[source]
    payload: Any = load_payload(source.value, path.name)
    spec.wire_model.model_validate(payload)
    parsed = spec.parse(payload, received_at=NOW, default_severity=Severity.WARNING)
    assert isinstance(parsed, Parsed)
    assert parsed.alerts
    assert {alert.source for alert in parsed.alerts} == {source}
    assert parsed.truncated >= 0


async def test_every_spec_is_served_as_described(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    for spec in SOURCES.values():
        operation = document["paths"][spec.path]["post"]
        assert operation["summary"] == spec.summary
        assert spec.wire_model.__name__ in json.dumps(operation["requestBody"])
        first = fixtures_of(spec.source)[0]
        response = await client.post(spec.path, json=load_payload(spec.source.value, first.name))
        assert response.status == 202, await response.text()

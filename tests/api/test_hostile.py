"""A corpus of hostile bodies against both webhooks: never a 500 (nor a 503 with the
database up), a clear 4xx with the project's error body (or 202 where the body is
legitimately acceptable), a bounded time per request, and every refused body kept."""

from __future__ import annotations

import copy
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.api.helpers import Client
from tests.helpers import load_payload

AM = "/webhooks/alertmanager"
AZ = "/webhooks/azure-monitor"
SEEDS: dict[str, dict[str, Any]] = {
    AM: load_payload("alertmanager", "firing_single_alert_group.json"),
    AZ: load_payload("azure_monitor", "common-metric-static.json"),
}
JSON = "application/json"
MAX_SECONDS = 15.0  # per request, generous for a loaded CI machine; typical is well under 1 s


def labels_of(path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The mapping that becomes the alert's labels."""
    if path == AM:
        labels: dict[str, Any] = payload["alerts"][0]["labels"]
    else:
        labels = payload["data"]["alertContext"]["properties"]
    return labels


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"n": value}
    return value


def nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: None for key in value}
    if isinstance(value, list):
        return [None for _ in value]
    return None


def deep_nulls(value: Any) -> Any:
    """Every leaf replaced by null, the structure kept."""
    if isinstance(value, dict):
        return {key: deep_nulls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [deep_nulls(item) for item in value]
    return None


def numbers_for_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: numbers_for_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [numbers_for_strings(item) for item in value]
    return 12345 if isinstance(value, str) else value


@dataclass
class Case:
    name: str
    make: Callable[[str, dict[str, Any]], bytes]
    allowed: set[int]
    content_type: str | None = JSON
    check: Callable[[str, Any], None] | None = field(default=None)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _with_labels(update: Callable[[dict[str, Any]], None]) -> Callable[[str, Any], bytes]:
    def make(path: str, seed: dict[str, Any]) -> bytes:
        payload = copy.deepcopy(seed)
        update(labels_of(path, payload))
        return _dumps(payload)
    return make


def _many_labels(labels: dict[str, Any]) -> None:
    labels.update({f"label_{i:05d}": f"value-{i}" for i in range(10_000)})


def _huge_value(labels: dict[str, Any]) -> None:
    labels["huge"] = "v" * (1024 * 1024)


def _nested_label(labels: dict[str, Any]) -> None:
    labels["deep"] = nested(50)


def _number_label(labels: dict[str, Any]) -> None:
    labels["answer"] = 42


def _duplicate_keys(path: str, seed: dict[str, Any]) -> bytes:
    """The top-level object with one key repeated; JSON parsers keep the last."""
    text = json.dumps(seed)
    key = "status" if path == AM else "schemaId"
    wrong = '"resolved-or-not"' if path == AM else '"notASchema"'
    return ("{" + f'"{key}": {wrong}, ' + text[1:]).encode()


CORPUS: list[Case] = [
    Case("empty-body", lambda p, s: b"", {400, 422}),
    Case("truncated-json", lambda p, s: _dumps(s)[: len(_dumps(s)) // 2], {400}),
    Case("truncated-one-byte", lambda p, s: _dumps(s)[:-1], {400}),
    Case("not-json", lambda p, s: b"{not json", {400}),
    Case("trailing-garbage", lambda p, s: _dumps(s) + b" }", {400}),
    Case("invalid-utf8", lambda p, s: b'{"receiver": "\xff\xfe\xfd"}', {400}),
    Case("utf16", lambda p, s: json.dumps(s).encode("utf-16"), {400}),
    Case("nul-in-label", _with_labels(lambda lab: lab.update(x="a\x00b")), {202}),
    Case("nan", lambda p, s: b'{"a": NaN}', {400}),
    Case("infinity-literal", lambda p, s: b'{"a": -Infinity}', {400}),
    Case("huge-number", lambda p, s: b'{"a": 1e400}', {400}),
    Case("huge-integer", lambda p, s: b'{"a": ' + b"9" * 4000 + b"}", {400, 422}),
    Case("text-plain", lambda p, s: _dumps(s), {415}, "text/plain"),
    Case("form", lambda p, s: b"a=1&b=2", {415}, "application/x-www-form-urlencoded"),
    Case("multipart", lambda p, s: b"--x\r\n\r\n--x--", {415}, "multipart/form-data; boundary=x"),
    Case("xml", lambda p, s: b"<alert/>", {415}, "application/xml"),
    Case("octet-stream", lambda p, s: _dumps(s), {415}, "application/octet-stream"),
    Case("json-charset", lambda p, s: _dumps(s), {202}, "application/json; charset=utf-8"),
    Case("no-content-type", lambda p, s: _dumps(s), {202}, None),
    Case("top-level-array", lambda p, s: _dumps([s]), {422}),
    Case("top-level-string", lambda p, s: b'"alert"', {422}),
    Case("top-level-null", lambda p, s: b"null", {422}),
    Case("top-level-number", lambda p, s: b"7", {422}),
    Case("nesting-50-top", lambda p, s: _dumps(nested(50)), {422}),
    Case("nesting-50-in-label", _with_labels(_nested_label), {202, 422}),
    Case("nesting-100000", lambda p, s: b"[" * 100_000 + b"]" * 100_000, {400, 422}),
    Case("10000-labels", _with_labels(_many_labels), {202, 422}),
    Case("1mb-label-value", _with_labels(_huge_value), {202, 422}),
    Case("number-label", _with_labels(_number_label), {202, 422}),
    Case("numbers-for-strings", lambda p, s: _dumps(numbers_for_strings(s)), {422}),
    Case("nulls-top-level", lambda p, s: _dumps(nulls(s)), {422}),
    Case("nulls-everywhere", lambda p, s: _dumps(deep_nulls(s)), {422}),
    Case("empty-object", lambda p, s: b"{}", {422}),
    Case("duplicate-keys", _duplicate_keys, {202}),
]


@pytest.mark.parametrize("path", [AM, AZ], ids=["alertmanager", "azure-monitor"])
async def test_hostile_corpus(client: Client, path: str) -> None:
    seed = SEEDS[path]
    refused = 0
    outcomes: dict[str, int] = {}
    wrong: list[tuple[str, int, str]] = []
    for case in CORPUS:
        body = case.make(path, seed)
        headers = {"Content-Type": case.content_type} if case.content_type else {}
        started = time.monotonic()
        response = await client.post(
            path, data=io.BytesIO(body), headers=headers,
            skip_auto_headers=() if case.content_type else ("Content-Type",))
        text = await response.text()
        elapsed = time.monotonic() - started
        outcomes[case.name] = response.status
        assert elapsed < MAX_SECONDS, (case.name, elapsed)
        if response.status not in case.allowed:
            wrong.append((case.name, response.status, text[:300]))
            continue
        answer = json.loads(text)
        if response.status == 202:
            assert answer["received"] >= 1, case.name
        else:
            refused += 1
            error = answer["error"]
            assert error["code"] and error["message"], case.name
            assert len(error["message"]) < 2000, case.name  # never echoes a huge body
    assert not wrong
    items = await _rejected(client)
    assert len(items) == refused, outcomes
    assert all(item["source"] == path.rsplit("/", 1)[1].replace("-", "_") for item in items)


async def _rejected(client: Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/api/v1/rejected", params=params)).json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


async def test_rejected_bodies_are_kept_byte_for_byte(client: Client) -> None:
    bodies = [b"{not json", b'{"receiver": "\xff\xfe"}', b"[" * 5000]
    for body in bodies:
        response = await client.post(AM, data=body, headers={"Content-Type": JSON})
        assert response.status == 400
    import base64

    kept = {base64.b64decode(item["body_base64"]) for item in await _rejected(client)}
    assert kept == set(bodies)


async def test_bodies_up_to_the_limit_are_kept_whole_and_above_truncated(
    make_client: Any
) -> None:
    limit = 64 * 1024
    client: Client = await make_client(max_body_bytes=limit)
    just_fits = b"[" + b" " * (limit - 2) + b"{"  # invalid JSON of exactly the limit
    above = b"x" * (limit * 3)
    assert (await client.post(AZ, data=just_fits, headers={"Content-Type": JSON})).status == 400
    assert (await client.post(AZ, data=above, headers={"Content-Type": JSON})).status == 413
    items = {item["status_code"]: item for item in await _rejected(client)}
    assert items[400]["body_size"] == limit and not items[400]["body_truncated"]
    assert items[413]["body_size"] == limit * 3 and items[413]["body_truncated"]
    import base64

    assert len(base64.b64decode(items[413]["body_base64"])) == limit


@pytest.mark.parametrize("path", [AM, AZ], ids=["alertmanager", "azure-monitor"])
async def test_duplicate_keys_last_one_wins(client: Client, path: str) -> None:
    """A repeated key is not an error: the last value counts, as in every JSON parser."""
    seed = copy.deepcopy(SEEDS[path])
    text = json.dumps(seed)
    if path == AM:
        body = text.replace('"alertname": "KubeNodeNotReady"',
                            '"alertname": "First", "alertname": "KubeNodeNotReady"', 1)
    else:
        body = text.replace('"alertRule": "test-metricAlertRule"',
                            '"alertRule": "first", "alertRule": "test-metricAlertRule"', 1)
    assert body != text
    response = await client.post(path, data=body.encode(), headers={"Content-Type": JSON})
    assert response.status == 202
    items = (await (await client.get("/api/v1/alerts")).json())["items"]
    assert len(items) == 1
    assert items[0]["name"] in ("KubeNodeNotReady", "test-metricAlertRule")


# A lone UTF-16 surrogate ("\ud800") is valid JSON syntax but no Unicode text: Python
# decodes it into a str that cannot be encoded again (the fingerprint hashes UTF-8,
# PostgreSQL JSONB refuses it). The webhook replaces it by U+FFFD, as it does NUL, and
# stores the alert: a sender that retried a refused body would retry it forever. Each case:
# the body, and where the stored alert carries the replacement.
SURROGATE_CASES: dict[str, tuple[Callable[[str, Any], bytes], Callable[[str, Any], Any]]] = {
    "label": (
        _with_labels(lambda lab: lab.update(x="\ud800")),
        # the source fragment kept verbatim in raw (Azure does not promote these properties)
        lambda path, item: (item["raw"]["alert"]["labels"] if path == AM
                            else item["raw"]["data"]["alertContext"]["properties"])["x"],
    ),
    "rule-name": (
        lambda path, seed: _dumps(seed).replace(b'"KubeNodeNotReady"', b'"\\ud800"').replace(
            b'"test-metricAlertRule"', b'"\\ud800"'),
        lambda path, item: item["name"],
    ),
}


@pytest.mark.parametrize("where", sorted(SURROGATE_CASES))
@pytest.mark.parametrize("path", [AM, AZ], ids=["alertmanager", "azure-monitor"])
async def test_lone_surrogates_are_replaced_and_the_alert_stored(
    client: Client, path: str, where: str
) -> None:
    make, stored_at = SURROGATE_CASES[where]
    body = make(path, SEEDS[path])
    assert b"\\ud800" in body
    response = await client.post(path, data=body, headers={"Content-Type": JSON})
    text = await response.text()
    assert response.status == 202, text
    assert json.loads(text)["new"] == 1
    listing = await client.get("/api/v1/alerts")
    assert listing.status == 200
    listed = await listing.text()
    assert "\\ud800" not in listed.lower()  # no lone surrogate comes back out
    (item,) = json.loads(listed)["items"]
    assert stored_at(path, item) == "\ufffd"
    assert await _rejected(client) == []

"""Security properties, generated from the route table so a new route is covered on arrival:
tokens required and roles enforced, tokens never logged or stored, constant-time
comparison, size limits, the API rate limit (and none on webhooks)."""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from aggregator.api import auth as auth_module
from aggregator.api.auth import Authenticator, Role
from aggregator.api.routes import ROUTES, Route
from aggregator.config.service import AuthSettings
from aggregator.errors import AuthError
from aggregator.model import Source
from aggregator.sources import SOURCES
from tests.api.helpers import Client
from tests.helpers import load_payload

# One webhook token per registered source (a new source is covered without a change here).
SOURCE_TOKENS = {source: f"{source.value}-token-0123456789abcdef" for source in SOURCES}
AM_TOKEN = SOURCE_TOKENS[Source.ALERTMANAGER]
AZ_TOKEN = SOURCE_TOKENS[Source.AZURE_MONITOR]
READ = "read-token-0123456789abcdef"
WRITE = "write-token-0123456789abcdef"
WRONG = "wrong-token-0123456789abcdef"
TOKENS = {
    **{f"{source.value}_tokens": [token] for source, token in SOURCE_TOKENS.items()},
    "api_read_tokens": [READ], "api_write_tokens": [WRITE],
}
INT_PATH_PARAMS = {"notification_id"}
WEBHOOK_TOKEN = {f"webhook:{source.value}": token for source, token in SOURCE_TOKENS.items()}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"azure:{token}".encode()).decode()}


def concrete_path(route: Route) -> str:
    """The route's path with every parameter filled with a random id of the right kind."""
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(random.randint(1, 10**9)) if name in INT_PATH_PARAMS else str(uuid.uuid4())
    return re.sub(r"{(\w+)}", fill, route.path)


async def call(client: Client, route: Route, headers: dict[str, str],
               params: dict[str, str] | None = None) -> int:
    kwargs: dict[str, Any] = {"headers": headers, "params": params}
    if route.body is not None:
        kwargs["json"] = {}
    response = await client.request(route.method, concrete_path(route), **kwargs)
    await response.read()
    return response.status


SECURED = [route for route in ROUTES if route.auth is not None]
WRITE_ROUTES = [route for route in ROUTES if route.auth == "write"]
READ_ROUTES = [route for route in ROUTES if route.auth == "read"]


def _id(route: Route) -> str:
    return f"{route.method} {route.path}"


@pytest.fixture
async def secured(make_client: Any) -> Client:
    client: Client = await make_client(auth=TOKENS)
    return client


def test_every_route_has_a_known_auth_and_only_health_routes_are_open() -> None:
    for route in ROUTES:
        assert route.auth in (None, "read", "write", *WEBHOOK_TOKEN), _id(route)
        if route.auth is None:
            assert route.tag == "health", f"{_id(route)} is open; give it auth= or tag health"
        if route.path.startswith("/webhooks/"):
            assert route.auth in WEBHOOK_TOKEN, _id(route)
        elif route.method != "GET":
            assert route.auth == "write", f"{_id(route)} changes state; it needs a write token"
    assert WRITE_ROUTES and READ_ROUTES


@pytest.mark.parametrize("route", SECURED, ids=_id)
async def test_every_secured_route_refuses_a_missing_or_wrong_token(
    secured: Client, route: Route
) -> None:
    for headers in ({}, _bearer(WRONG), _basic(WRONG), {"Authorization": WRONG}):
        assert await call(secured, route, headers) == 401, (_id(route), headers)
    # the right token of another group is a wrong token here
    own = {WEBHOOK_TOKEN[route.auth]} if route.auth in WEBHOOK_TOKEN else {READ, WRITE}
    for token in {*SOURCE_TOKENS.values(), READ, WRITE} - own:
        assert await call(secured, route, _bearer(token)) == 401, (_id(route), token)
    if route.auth == "webhook:azure_monitor":
        assert await call(secured, route, {}, {"token": WRONG}) == 401


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=_id)
async def test_a_read_token_cannot_use_a_write_route(secured: Client, route: Route) -> None:
    response = await secured.request(route.method, concrete_path(route), headers=_bearer(READ),
                                     json={} if route.body is not None else None)
    assert response.status == 403
    body = await response.json()
    assert body["error"]["code"] == "forbidden"
    assert await call(secured, route, _bearer(WRITE)) not in (401, 403)


@pytest.mark.parametrize("route", READ_ROUTES, ids=_id)
async def test_read_routes_accept_both_roles(secured: Client, route: Route) -> None:
    for token in (READ, WRITE):
        assert await call(secured, route, _bearer(token)) not in (401, 403), _id(route)


async def test_tokens_never_reach_logs_responses_or_rejected_payloads(
    secured: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    json_type = {"Content-Type": "application/json"}
    texts: list[str] = []

    async def send(method: str, path: str, **kwargs: Any) -> None:
        response = await secured.request(method, path, **kwargs)
        texts.append(await response.text())
        texts.append(json.dumps(dict(response.headers)))

    # rejected with a right token in each form the senders use
    await send("POST", "/webhooks/alertmanager", data=b"{not json",
               headers={**_bearer(AM_TOKEN), **json_type})
    await send("POST", "/webhooks/azure-monitor", params={"token": AZ_TOKEN}, data=b"[1,",
               headers=json_type)
    await send("POST", "/webhooks/azure-monitor", data=b"\xff\xfe",
               headers={**_basic(AZ_TOKEN), **json_type})
    await send("POST", "/webhooks/azure-monitor", data=b"<xml/>",
               headers={**_bearer(AZ_TOKEN), "Content-Type": "text/xml"})
    url = secured.make_url("/webhooks/azure-monitor").with_user("azure").with_password(AZ_TOKEN)
    async with secured.session.post(url, data=b"{", headers=json_type) as response:
        texts.append(await response.text())
    # refused: wrong tokens in each form
    await send("POST", "/webhooks/alertmanager", json={}, headers=_bearer(WRONG))
    await send("POST", "/webhooks/azure-monitor", json={}, params={"token": WRONG})
    await send("POST", "/webhooks/azure-monitor", json={}, headers=_basic(WRONG))
    # the API, right and wrong
    for token in (READ, WRITE, WRONG, AM_TOKEN):
        await send("GET", "/api/v1/alerts", headers=_bearer(token))
        await send("POST", f"/api/v1/alerts/{uuid.uuid4()}/ack", json={"by": "x"},
                   headers=_bearer(token))
    response = await secured.get("/api/v1/rejected", headers=_bearer(READ))
    stored = await response.text()
    assert len((await response.json())["items"]) == 5
    assert "[redacted]" in stored
    everything = "\n".join([stored, caplog.text, *texts])
    for secret in (*SOURCE_TOKENS.values(), READ, WRITE, WRONG):
        for form in (secret, base64.b64encode(f"azure:{secret}".encode()).decode()):
            assert form not in everything, secret


# -- constant time -----------------------------------------------------------------------


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    real = auth_module.hmac.compare_digest

    def compare(a: Any, b: Any) -> bool:
        seen.append(b)
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", compare)
    return seen


def _authenticator(n: int) -> tuple[Authenticator, dict[str, list[str]]]:
    tokens = {group: [f"{group}-{i}-0123456789abcdef" for i in range(n)]
              for group in ("alertmanager_tokens", "azure_monitor_tokens", "api_read_tokens",
                            "api_write_tokens")}
    return Authenticator.from_settings(AuthSettings(**tokens)), tokens  # type: ignore[arg-type]


def _request(path: str = "/x", **headers: str) -> Any:
    return make_mocked_request("POST", path, headers=CIMultiDict(headers))


@pytest.mark.parametrize("n", [1, 3, 7])
def test_webhook_tokens_are_all_compared_without_early_exit(
    monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    authenticator, tokens = _authenticator(n)
    seen = _counting(monkeypatch)
    am = [t.encode() for t in tokens["alertmanager_tokens"]]
    for given, ok in ((am[0], True), (am[-1], True), (b"x" * 30, False),
                      (am[0][:-1], False)):
        seen.clear()
        request = _request(Authorization=f"Bearer {given.decode()}")
        if ok:
            authenticator.check_webhook(Source.ALERTMANAGER, request)
        else:
            with pytest.raises(AuthError):
                authenticator.check_webhook(Source.ALERTMANAGER, request)
        assert seen == am, given

    az = [t.encode() for t in tokens["azure_monitor_tokens"]]
    seen.clear()
    authenticator.check_webhook(Source.AZURE_MONITOR,
                                _request(f"/x?token={az[0].decode()}"))
    assert seen == az
    seen.clear()
    with pytest.raises(AuthError):
        authenticator.check_webhook(Source.AZURE_MONITOR, _request("/x?token=nope-nope-nope"))
    assert seen == az


@pytest.mark.parametrize("n", [1, 3, 7])
def test_api_tokens_are_all_compared_without_early_exit(
    monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    authenticator, tokens = _authenticator(n)
    seen = _counting(monkeypatch)
    write = [t.encode() for t in tokens["api_write_tokens"]]
    read = [t.encode() for t in tokens["api_read_tokens"]]

    def check(token: bytes, role: Role) -> Callable[[], None]:
        return lambda: authenticator.check_api(
            _request(Authorization=f"Bearer {token.decode()}"), role)

    # a write token, first or last: every write token compared, then done
    for token in (write[0], write[-1]):
        seen.clear()
        check(token, Role.WRITE)()
        assert seen == write
    # a read token: every write token, then every read token
    for token in (read[0], read[-1]):
        seen.clear()
        check(token, Role.READ)()
        assert seen == write + read
        seen.clear()
        with pytest.raises(AuthError):
            check(token, Role.WRITE)()
        assert seen == write + read
    # a miss: every token of both groups, each once
    seen.clear()
    with pytest.raises(AuthError):
        check(b"z" * 40, Role.READ)()
    assert seen == write + read


def test_the_implementation_uses_hmac_compare_digest() -> None:
    import inspect

    source = inspect.getsource(auth_module._matches)
    assert "hmac.compare_digest" in source
    loop = source.split("for token in tokens", 1)[1].split("\n    return")[0]
    assert "return" not in loop and "break" not in loop


# -- size limits -------------------------------------------------------------------------


async def test_webhook_bodies_above_the_limit_are_413_and_kept_truncated(
    make_client: Any
) -> None:
    client: Client = await make_client(max_body_bytes=2048)
    big = json.dumps({"alerts": [], "pad": "x" * 5000}).encode()
    for path in ("/webhooks/alertmanager", "/webhooks/azure-monitor"):
        response = await client.post(path, data=big,
                                      headers={"Content-Type": "application/json"})
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "payload_too_large"
    items = (await (await client.get("/api/v1/rejected")).json())["items"]
    assert len(items) == 2
    for item in items:
        assert item["status_code"] == 413
        assert item["body_size"] == len(big)
        assert item["body_truncated"] is True
        assert len(base64.b64decode(item["body_base64"])) <= 2048


async def test_api_json_bodies_above_the_limit_are_413(make_client: Any) -> None:
    client: Client = await make_client(max_body_bytes=2048, auth=TOKENS)
    big = {"by": "alice", "comment": "x" * 5000}
    for path in (f"/api/v1/alerts/{uuid.uuid4()}/ack", "/api/v1/silences"):
        response = await client.post(path, json=big, headers=_bearer(WRITE))
        assert response.status == 413, path
        error = (await response.json())["error"]
        assert error["code"] == "request_entity_too_large"
        assert error["field"] is None


# -- rate limit --------------------------------------------------------------------------

# One token back every 100 s: no refill while a test runs, however slow the machine (at 0.5/s
# a slow run could get a token back and a request past the burst would pass).
SLOW_REFILL = 0.01


async def test_api_requests_above_the_burst_get_429_with_retry_after(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client: Client = await make_client(auth=TOKENS,
                                       api_rate_limit={"per_second": SLOW_REFILL, "burst": 5})
    statuses = []
    for _ in range(6):
        response = await client.get("/api/v1/alerts", headers=_bearer(READ))
        statuses.append(response.status)
        body = await response.text()
    assert statuses == [200] * 5 + [429]
    assert 1 <= int(response.headers["Retry-After"]) <= math.ceil(1 / SLOW_REFILL)
    assert json.loads(body)["error"]["code"] == "rate_limited"
    assert json.loads(body)["error"]["field"] is None
    assert READ not in body and READ not in caplog.text
    # the limit is per token: another token still has its burst, health is never limited
    assert (await client.get("/api/v1/alerts", headers=_bearer(WRITE))).status == 200
    for path in ("/healthz", "/readyz", "/metrics"):
        for _ in range(10):
            assert (await client.get(path)).status == 200, path
    metrics = await (await client.get("/metrics")).text()
    assert 'code="429"' in metrics


async def test_without_api_tokens_the_limit_is_per_remote_address(make_client: Any) -> None:
    client: Client = await make_client(api_rate_limit={"per_second": SLOW_REFILL, "burst": 3})
    statuses = [(await client.get("/api/v1/silences")).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


async def test_the_limit_can_be_turned_off(make_client: Any) -> None:
    client: Client = await make_client(api_rate_limit=0, auth=TOKENS)
    for _ in range(150):
        assert (await client.get("/api/v1/rejected", headers=_bearer(READ))).status == 200


async def test_webhooks_are_never_rate_limited(make_client: Any) -> None:
    client: Client = await make_client(auth=TOKENS,
                                       api_rate_limit={"per_second": SLOW_REFILL, "burst": 1})
    payloads = {
        "/webhooks/alertmanager": (load_payload("alertmanager", "firing_single_alert_group.json"),
                                   {}, _bearer(AM_TOKEN)),
        "/webhooks/azure-monitor": (load_payload("azure_monitor", "common-metric-static.json"),
                                    {"token": AZ_TOKEN}, {}),
    }
    for _ in range(40):
        for path, (payload, params, headers) in payloads.items():
            response = await client.post(path, json=payload, params=params, headers=headers)
            assert response.status == 202, path
        # refused webhooks are not limited either (they are kept, never dropped)
        response = await client.post("/webhooks/alertmanager", data=b"{",
                                     headers={**_bearer(AM_TOKEN),
                                              "Content-Type": "application/json"})
        assert response.status == 400

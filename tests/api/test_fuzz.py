"""Property tests over HTTP: random and mutated payloads never produce a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import Client
from tests.helpers import load_payload
from tests.strategies import json_values, mutate

SEEDS = {
    "/webhooks/alertmanager": load_payload("alertmanager", "partially_resolved_group.json"),
    "/webhooks/azure-monitor": load_payload("azure_monitor", "common-servicehealth.json"),
}
ALLOWED = {202, 400, 413, 415, 422}


async def _run_in_thread(client: Client, test: Any) -> None:
    loop = asyncio.get_running_loop()

    def post(path: str, body: bytes) -> int:
        async def send() -> int:
            response = await client.post(path, data=body,
                                         headers={"Content-Type": "application/json"})
            await response.read()
            return response.status

        return asyncio.run_coroutine_threadsafe(send(), loop).result(timeout=30)

    await asyncio.to_thread(test, post)


async def test_random_json_never_gives_a_500(client: Client) -> None:
    seen: set[int] = set()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(sorted(SEEDS)), value=json_values)
    def check(post: Any, path: str, value: Any) -> None:
        status = post(path, json.dumps(value).encode())
        seen.add(status)
        assert status in ALLOWED

    await _run_in_thread(client, lambda post: check(post))
    assert 422 in seen


async def test_mutated_real_payloads_never_give_a_500(client: Client) -> None:
    seen: set[int] = set()

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(sorted(SEEDS)), data=st.data())
    def check(post: Any, path: str, data: st.DataObject) -> None:
        status = post(path, json.dumps(mutate(data, SEEDS[path])).encode())
        seen.add(status)
        assert status in ALLOWED

    await _run_in_thread(client, lambda post: check(post))
    assert 202 in seen


async def test_random_bytes_never_give_a_500(client: Client) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(sorted(SEEDS)), body=st.binary(max_size=200))
    def check(post: Any, path: str, body: bytes) -> None:
        assert post(path, body) in ALLOWED

    await _run_in_thread(client, lambda post: check(post))

"""The token bucket on its own (injected clock) and the setting's shapes."""

from __future__ import annotations

import pytest

from aggregator.api.ratelimit import TokenBuckets, is_exempt
from aggregator.config.service import RateLimitSettings, Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_with_the_wait_until_the_next_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.25
    assert buckets.take("a") == pytest.approx(0.25)
    clock.now += 0.25
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_refill_is_capped_at_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10.0, burst=2, clock=clock)
    buckets.take("a")
    clock.now += 3600
    assert [buckets.take("a") for _ in range(3)][:2] == [0.0, 0.0]
    assert buckets.take("a") > 0


def test_refused_requests_do_not_consume_tokens() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=1, clock=clock)
    assert buckets.take("a") == 0.0
    for _ in range(100):
        assert buckets.take("a") > 0
    clock.now += 1.0
    assert buckets.take("a") == 0.0


def test_keys_are_independent() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=Clock())
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_a_clock_going_backwards_never_adds_tokens() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=1, clock=clock)
    buckets.take("a")
    clock.now -= 50
    assert buckets.take("a") > 0


def test_at_most_max_keys_are_kept_least_recent_dropped_first() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=3, clock=Clock())
    for key in "abc":
        buckets.take(key)
    buckets.take("a")  # a is now the most recent
    buckets.take("d")  # drops b
    assert len(buckets) == 3
    assert buckets.take("b") == 0.0  # came back full
    assert buckets.take("a") > 0  # still tracked, still empty


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_nonsense_parameters_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBuckets(rate=rate, burst=burst)


def test_exempt_paths() -> None:
    assert is_exempt("/webhooks/alertmanager")
    assert is_exempt("/webhooks/azure-monitor")
    for path in ("/healthz", "/readyz", "/metrics"):
        assert is_exempt(path)
    for path in ("/api/v1/alerts", "/openapi.json", "/nothing"):
        assert not is_exempt(path)


def test_setting_defaults_and_short_form(monkeypatch: pytest.MonkeyPatch) -> None:
    default = Settings().api_rate_limit
    assert (default.per_second, default.burst) == (50.0, 100)
    assert Settings(api_rate_limit=0).api_rate_limit.per_second == 0
    assert Settings(api_rate_limit={"per_second": 5, "burst": 7}).api_rate_limit.burst == 7
    monkeypatch.setenv("AGGREGATOR_API_RATE_LIMIT__PER_SECOND", "3")
    assert Settings().api_rate_limit.per_second == 3
    with pytest.raises(ValueError, match="per_second"):
        RateLimitSettings(per_second=-1)

"""Backoff (pure): doubling, capped, jittered, floored by Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.delivery.backoff import next_attempt_at

NOW = datetime(2026, 11, 26, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(("attempt", "expected"), [(1, 1), (2, 2), (3, 4), (5, 16), (9, 256),
                                                   (10, 300), (60, 300)])
def test_delay_doubles_up_to_the_maximum(attempt: int, expected: float) -> None:
    at = next_attempt_at(attempt, NOW, initial=S, maximum=300 * S, jitter=1.0)
    assert at - NOW == expected * S


def test_jitter_spreads_over_the_upper_half() -> None:
    low = next_attempt_at(4, NOW, initial=S, maximum=300 * S, jitter=0.0)
    high = next_attempt_at(4, NOW, initial=S, maximum=300 * S, jitter=0.999)
    assert low - NOW == 4 * S
    assert 7.9 * S < high - NOW <= 8 * S


def test_retry_after_is_a_floor() -> None:
    at = next_attempt_at(1, NOW, initial=S, maximum=300 * S, jitter=1.0, retry_after=30)
    assert at - NOW == 30 * S
    at = next_attempt_at(9, NOW, initial=S, maximum=300 * S, jitter=1.0, retry_after=3)
    assert at - NOW == 256 * S

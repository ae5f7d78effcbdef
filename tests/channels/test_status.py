"""Status tables: the first rule naming a code decides, the default the rest; the error is
retryable or permanent as the rule says, and keeps ``Retry-After`` only where honoured."""

from __future__ import annotations

import pytest

from aggregator.channels import email, pagerduty
from aggregator.channels.status import StatusRule, StatusTable
from aggregator.errors import PermanentError, RetryableError

TABLE = StatusTable(
    rules=(StatusRule((429,), retry=True, retry_after=True, text="slow down: {reason}"),
           StatusRule(range(500, 600), retry=True, text="server {status}"),
           StatusRule(range(400, 500), retry=False, text="refused {status} by {channel}")),
    default=StatusRule((), retry=False, text="odd {status}"),
)


def test_the_first_matching_rule_decides_and_the_default_takes_the_rest() -> None:
    assert TABLE.rule(429).text == "slow down: {reason}"  # before the 4xx rule
    assert (TABLE.retries(429), TABLE.retries(503), TABLE.retries(404),
            TABLE.retries(302)) == (True, True, False, False)


def test_the_error_follows_the_rule() -> None:
    limited = TABLE.error(429, retry_after=7.0, reason="busy")
    assert isinstance(limited, RetryableError)
    assert (limited.message, limited.status_code, limited.retry_after) == (
        "slow down: busy", 429, 7.0)
    server = TABLE.error(503, retry_after=7.0)
    assert isinstance(server, RetryableError) and server.retry_after is None
    refused = TABLE.error(404, channel="pd")
    assert isinstance(refused, PermanentError)
    assert (refused.message, refused.status_code) == ("refused 404 by pd", 404)
    assert TABLE.error(302, "given text").message == "given text"


@pytest.mark.parametrize(("code", "retry"), [
    (200, True), (202, True), (400, False), (401, False), (403, False), (404, False),
    (408, True), (413, False), (429, True), (500, True), (502, True), (503, True), (504, True),
])
def test_pagerduty_statuses(code: int, retry: bool) -> None:
    assert pagerduty.STATUSES.retries(code) is retry


@pytest.mark.parametrize(("code", "retry"), [
    (421, True), (450, True), (451, True), (452, True), (454, True),
    (530, False), (535, False), (550, False), (552, False), (553, False), (554, False),
])
def test_smtp_reply_codes(code: int, retry: bool) -> None:
    assert email.STATUSES.retries(code) is retry

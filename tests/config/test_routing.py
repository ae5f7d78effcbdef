"""The raw channel entries of the settings: kept opaque (no secret in a repr, a log line or a
dump) until their channel's ``Config`` validates them, and given back as written."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from aggregator.config.routing import ChannelSettings, NotificationSettings
from aggregator.config.service import load_settings
from aggregator.errors import ConfigError

ROUTING_KEY = "R0UT1NGk3yN3v3rSh0wnAbCdEf012345"
PASSWORD = "smtp-p4ssw0rd-n3v3r-sh0wn"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AGGREGATOR_") and key != "AGGREGATOR_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


def _assert_hidden(text: str) -> None:
    assert ROUTING_KEY not in text
    assert PASSWORD not in text


def test_a_raw_entry_keeps_its_type_and_gives_back_what_was_written() -> None:
    entry = ChannelSettings.model_validate(
        {"type": "email", "host": "smtp.example.com", "password": PASSWORD,
         "to": ["oncall@example.com"]})
    assert entry.type == "email"
    assert entry.raw() == {"type": "email", "host": "smtp.example.com", "password": PASSWORD,
                           "to": ["oncall@example.com"]}


def test_no_secret_shows_in_a_repr_log_line_or_dump_of_the_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "aggregator.yaml"
    config.write_text(
        "notifications:\n"
        "  channels:\n"
        "    pd: {type: pagerduty}\n"
        "    mail: {type: email, host: smtp.example.com, username: alerts,\n"
        f"           password: {PASSWORD}, from: a@example.com, to: [b@example.com]}}\n")
    monkeypatch.setenv("AGGREGATOR_NOTIFICATIONS__CHANNELS__PD__ROUTING_KEY", ROUTING_KEY)
    settings = load_settings(config)
    assert settings.notifications.channels["pd"].raw()["routing_key"] == ROUTING_KEY
    assert settings.notifications.channels["mail"].raw()["password"] == PASSWORD
    for text in (repr(settings), str(settings), repr(settings.notifications.channels),
                 str(settings.notifications.channels["mail"]),
                 settings.model_dump_json(), str(settings.model_dump())):
        _assert_hidden(text)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings %s %r", settings, settings.notifications)
    _assert_hidden(caplog.text)


def test_the_log_channel_always_exists_as_a_raw_entry() -> None:
    channels = NotificationSettings().channels
    assert list(channels) == ["log"]
    assert channels["log"].raw() == {"type": "log"}


def test_an_entry_needs_a_type(tmp_path: Path) -> None:
    config = tmp_path / "aggregator.yaml"
    config.write_text("notifications:\n  channels:\n    mail:\n      host: smtp\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert "notifications.channels.mail.type: Field required" in str(info.value)

"""Channel entries checked against their types (``channels.configure``): errors name the key
and the YAML line, an unknown type is refused, each longest send must fit the lease, secrets
come from the environment or files, and the app refuses a bad channel before it starts."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.app import build_app
from aggregator.channels import CHANNELS, build_channels, configure
from aggregator.channels.email import EmailChannel, EmailConfig
from aggregator.channels.log import LogChannel, LogConfig
from aggregator.channels.pagerduty import PagerDutyChannel, PagerDutyConfig
from aggregator.config.routing import NotificationSettings
from aggregator.config.service import DeliverySettings, Settings, load_settings
from aggregator.errors import ConfigError
from tests.fakes.pagerduty import ROUTING_KEY


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AGGREGATOR_") and key != "AGGREGATOR_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


def _refused(tmp_path: Path, channels: str) -> str:
    """The ConfigError text for a settings file with these (indented) channel lines."""
    config = tmp_path / "aggregator.yaml"
    config.write_text("notifications:\n  channels:\n" + channels)
    settings = load_settings(config)
    with pytest.raises(ConfigError) as info:
        configure(settings)
    return str(info.value)


def test_an_unknown_type_is_refused_naming_it_and_the_known_types(tmp_path: Path) -> None:
    message = _refused(tmp_path, "    pager:\n      type: pagerdutty\n")
    assert "notifications.channels.pager.type" in message
    assert "'pagerdutty'" in message
    assert f"known: {', '.join(sorted(CHANNELS))}" in message
    assert "line 4" in message


def test_an_unknown_type_from_the_environment_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGGREGATOR_NOTIFICATIONS__CHANNELS__PAGER__TYPE", "sms")
    with pytest.raises(ConfigError) as info:
        configure(load_settings())
    message = str(info.value)
    assert "notifications.channels.pager.type: unknown channel type 'sms'" in message
    assert "AGGREGATOR_NOTIFICATIONS__CHANNELS__PAGER__TYPE" in message


def test_a_bad_field_is_named_with_its_line(tmp_path: Path) -> None:
    message = _refused(tmp_path, "    mail:\n"
                                 "      type: email\n"
                                 "      host: smtp.example.com\n"
                                 "      port: 0\n"
                                 "      from: alerts@example.com\n"
                                 "      to: [oncall@example.com]\n")
    assert "notifications.channels.mail.port: Input should be greater than or equal to 1" \
        in message
    assert "line 6" in message


def test_every_bad_entry_is_listed_without_its_secret(tmp_path: Path) -> None:
    message = _refused(tmp_path, "    pd:\n"
                                 "      type: pagerduty\n"
                                 f"      routing_key: {ROUTING_KEY}\n"
                                 "      events_url: http://events.example.com\n"
                                 "    mail:\n"
                                 "      type: email\n"
                                 "      from: alerts@example.com\n"
                                 "      to: [oncall@example.com]\n")
    assert "notifications.channels.pd: Value error, events_url must start with https://" \
        in message
    assert "notifications.channels.mail.host: Field required" in message
    assert ROUTING_KEY not in message


def test_a_send_longer_than_half_the_lease_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "aggregator.yaml"
    config.write_text("delivery:\n  lease: PT20S\n"
                      "notifications:\n  channels:\n"
                      "    pd:\n      type: pagerduty\n"
                      f"      routing_key: {ROUTING_KEY}\n"
                      "      timeout: 10\n")
    settings = load_settings(config)
    with pytest.raises(ConfigError) as info:
        configure(settings)
    message = str(info.value)
    assert ("notifications.channels.pd.timeout: a send may take 11 s, more than half of "
            "delivery.lease (10 s) allows; lower the timeout or raise the lease, or a slow "
            "send could be claimed twice") in message
    assert "line 8" in message
    # A lease with room for it (11 s + 1 s margin <= 24 / 2) is accepted.
    roomy = settings.model_copy(update={"delivery": DeliverySettings(
        lease=timedelta(seconds=24))})
    assert isinstance(configure(roomy)["pd"], PagerDutyConfig)


def test_notification_settings_alone_have_no_lease_to_check() -> None:
    notifications = NotificationSettings.model_validate({"channels": {"pd": {
        "type": "pagerduty", "routing_key": ROUTING_KEY, "timeout": 120}}})
    assert configure(notifications)["pd"].max_send_seconds() == 121


def test_secrets_come_from_the_environment_and_from_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    password = tmp_path / "smtp-password"
    password.write_text("smtp-secret-from-a-file\n")
    config = tmp_path / "aggregator.yaml"
    config.write_text("notifications:\n  channels:\n"
                      "    oncall_pagerduty: {type: pagerduty}\n"
                      "    team_mail: {type: email, host: smtp.example.com, username: alerts,\n"
                      f"                password_file: {password},\n"
                      "                from: alerts@example.com, to: [oncall@example.com]}\n")
    monkeypatch.setenv("AGGREGATOR_NOTIFICATIONS__CHANNELS__ONCALL_PAGERDUTY__ROUTING_KEY",
                       ROUTING_KEY)
    monkeypatch.setenv("AGGREGATOR_NOTIFICATIONS__CHANNELS__TEAM_MAIL__TO",
                       '["a@example.com", "b@example.com"]')
    configs = configure(load_settings(config))
    pd, mail = configs["oncall_pagerduty"], configs["team_mail"]
    assert isinstance(pd, PagerDutyConfig) and isinstance(mail, EmailConfig)
    assert pd.routing_key is not None and pd.routing_key.get_secret_value() == ROUTING_KEY
    assert mail.password is not None
    assert mail.password.get_secret_value() == "smtp-secret-from-a-file"
    assert mail.to == ["a@example.com", "b@example.com"]  # JSON text from the environment
    assert ROUTING_KEY not in repr(configs) and "smtp-secret" not in repr(configs)


def test_a_routing_key_file_is_read(tmp_path: Path) -> None:
    key = tmp_path / "routing-key"
    key.write_text(ROUTING_KEY + "\n")
    notifications = NotificationSettings.model_validate(
        {"channels": {"pd": {"type": "pagerduty", "routing_key_file": str(key)}}})
    pd = configure(notifications)["pd"]
    assert isinstance(pd, PagerDutyConfig) and pd.routing_key is not None
    assert pd.routing_key.get_secret_value() == ROUTING_KEY


def test_a_typed_config_passed_in_code_is_kept() -> None:
    pd = PagerDutyConfig(type="pagerduty", routing_key=ROUTING_KEY)
    configs = configure(NotificationSettings(channels={"pd": pd}))
    assert configs["pd"] is pd
    assert isinstance(configs["log"], LogConfig)


def test_build_channels_makes_each_type_s_class() -> None:
    configs = configure(NotificationSettings.model_validate({"channels": {
        "pd": {"type": "pagerduty", "routing_key": ROUTING_KEY},
        "mail": {"type": "email", "host": "smtp", "from": "a@example.com",
                 "to": ["b@example.com"]}}}))
    made = build_channels(configs)
    assert isinstance(made["pd"], PagerDutyChannel)
    assert isinstance(made["mail"], EmailChannel)
    assert isinstance(made["log"], LogChannel)
    assert {name: channel.max_send_seconds for name, channel in made.items()} == {
        "pd": 11.0, "mail": 22.0, "log": 1.0}


def test_the_app_refuses_a_bad_channel_before_it_starts() -> None:
    settings = Settings(notifications={"channels": {"pd": {"type": "pagerduty"}}})
    with pytest.raises(ConfigError, match=r"notifications\.channels\.pd: Value error, "
                                          r"routing_key \(or routing_key_file\) is required"):
        build_app(settings)

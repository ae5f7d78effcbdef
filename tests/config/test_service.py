"""Settings: defaults, environment, YAML file, secret files, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.channels import configure
from aggregator.config.service import (
    DEFAULT_DATABASE_URL,
    AuthSettings,
    Settings,
    is_loopback,
    load_settings,
)
from aggregator.errors import ConfigError
from aggregator.model import Source


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("AGGREGATOR_") and key != "AGGREGATOR_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


def test_defaults_are_the_embedded_mode() -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.migrate_on_start is True
    assert settings.max_body_bytes == 4 * 1024 * 1024


def test_precedence_flags_over_env_over_yaml(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "aggregator.yaml"
    config.write_text("port: 9001\nhost: 127.0.0.2\nlog_level: DEBUG\n")
    monkeypatch.setenv("AGGREGATOR_PORT", "9002")
    settings = load_settings(config)
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.2", 9002, "DEBUG")
    assert load_settings(config, port=9003).port == 9003


def test_tokens_from_env_and_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "tokens"
    secret.write_text("file-token-0123456789abcdef\n\nsecond-token-0123456789ab\n")
    monkeypatch.setenv("AGGREGATOR_AUTH__ALERTMANAGER_TOKENS", '["env-token-0123456789abcdef"]')
    monkeypatch.setenv("AGGREGATOR_AUTH__ALERTMANAGER_TOKENS_FILE", str(secret))
    tokens = load_settings().auth.tokens_for(Source.ALERTMANAGER)
    assert [t.get_secret_value() for t in tokens] == [
        "env-token-0123456789abcdef", "file-token-0123456789abcdef", "second-token-0123456789ab"]
    assert "file-token" not in repr(load_settings())


def test_database_url_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "database-url"
    secret.write_text("postgresql+asyncpg://svc:pw@db.example.com/aggregator?ssl=require\n")
    monkeypatch.setenv("AGGREGATOR_DATABASE_URL_FILE", str(secret))
    settings = load_settings()
    assert settings.database_url == \
        "postgresql+asyncpg://svc:pw@db.example.com/aggregator?ssl=require"
    assert not settings.is_sqlite
    # A --database-url flag still wins over the configured file.
    assert load_settings(database_url="sqlite+aiosqlite:///x.db").database_url == \
        "sqlite+aiosqlite:///x.db"


def test_database_url_and_its_file_together_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "database-url"
    secret.write_text("postgresql+asyncpg://svc:pw@db.example.com/aggregator\n")
    config = tmp_path / "aggregator.yaml"
    config.write_text(f"database_url_file: {secret}\n")
    monkeypatch.setenv("AGGREGATOR_DATABASE_URL", "sqlite+aiosqlite:///x.db")
    with pytest.raises(ConfigError, match="database_url and database_url_file are both set"):
        load_settings(config)


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot read"), ("\n", "is empty"), ("mysql://svc:hunter2@db/x", "use sqlite")])
def test_bad_database_url_file_is_named_without_the_password(
        tmp_path: Path, content: str | None, expected: str) -> None:
    secret = tmp_path / "database-url"
    if content is not None:
        secret.write_text(content)
    config = tmp_path / "aggregator.yaml"
    config.write_text(f"database_url_file: {secret}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert expected in message
    assert "database_url" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [("port: -1\n", "port"), ("database_url: mysql://x\n", "database_url"),
     ("prot: 1\n", "prot"), ("auth:\n  api_read_tokens: [short]\n", "auth"),
     ("auth:\n  api_read_tokens_file: /does/not/exist\n", "api_read_tokens_file")],
)
def test_bad_settings_name_the_key(tmp_path: Path, yaml: str, expected: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert expected in str(info.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("::1", True),
                                                ("localhost", True), ("0.0.0.0", False),
                                                ("10.0.0.4", False), ("", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_bad_route_settings_name_the_key_and_the_line(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text(
        "notifications:\n"
        "  channels:\n"
        "    mail: {type: email, host: smtp, from: a@example.com, to: [b@example.com]}\n"
        "  routes:\n"
        "    - match: {min_severity: error}\n"
        "      channels: [mail]\n"
        "    - match:\n"
        "        labels: ['team=~(unclosed']\n"
        "      channels: [mail]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert "notifications.routes.1.match.labels" in message
    assert "line 8" in message
    assert "bad regular expression" in message


def test_route_to_an_undefined_channel_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text("notifications:\n  routes:\n    - channels: [pagerduty]\n")
    with pytest.raises(ConfigError, match="no channel named 'pagerduty'"):
        load_settings(config)


def test_the_example_configuration_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "examples" / "aggregator.yaml"
    secret = tmp_path / "secret"
    secret.write_text("R0UT1NGk3yF0rT3sts0nlyAbCdEf0123\n")
    text = example.read_text().replace("/var/run/secrets/aggregator/pagerduty-routing-key",
                                       str(secret))
    text = text.replace("/var/run/secrets/aggregator/smtp-password", str(secret))
    config = tmp_path / "example.yaml"
    config.write_text(text)
    settings = load_settings(config)
    assert set(settings.notifications.channels) == {"oncall_pagerduty", "team_mail", "log"}
    assert len(settings.notifications.routes) == 4
    assert set(configure(settings)) == {"oncall_pagerduty", "team_mail", "log"}


AM_TOKEN = "am-token-0123456789abcdef"
AZ_TOKEN = "az-token-0123456789abcdef"


def _webhook_tokens(settings: Settings) -> dict[Source, list[str]]:
    """The sources that have tokens, with them (a source without tokens is left out)."""
    found = {source: [t.get_secret_value() for t in settings.auth.tokens_for(source)]
             for source in Source}
    return {source: tokens for source, tokens in found.items() if tokens}


def test_webhook_tokens_by_source_in_one_shape(tmp_path: Path) -> None:
    tokens = tmp_path / "azure-tokens"
    tokens.write_text(f"{AZ_TOKEN}\n")
    config = tmp_path / "aggregator.yaml"
    config.write_text("auth:\n"
                      f"  webhook_tokens: {{alertmanager: [{AM_TOKEN}]}}\n"
                      f"  webhook_tokens_file: {{azure_monitor: {tokens}}}\n")
    settings = load_settings(config)
    assert _webhook_tokens(settings) == {Source.ALERTMANAGER: [AM_TOKEN],
                                         Source.AZURE_MONITOR: [AZ_TOKEN]}
    assert settings.auth.webhook_tokens_file == {}  # read once, at load
    assert settings.auth.any_configured
    assert AM_TOKEN not in repr(settings) and AZ_TOKEN not in repr(settings)


def test_a_source_without_tokens_has_none() -> None:
    auth = load_settings().auth
    assert [auth.tokens_for(source) for source in Source] == [[] for _ in Source]
    assert not auth.any_configured


def test_the_documented_per_source_keys_from_yaml(tmp_path: Path) -> None:
    tokens = tmp_path / "azure-tokens"
    tokens.write_text(f"{AZ_TOKEN}\n")
    config = tmp_path / "aggregator.yaml"
    config.write_text(f"auth:\n  alertmanager_tokens: [{AM_TOKEN}]\n"
                      f"  azure_monitor_tokens_file: {tokens}\n")
    assert _webhook_tokens(load_settings(config)) == {Source.ALERTMANAGER: [AM_TOKEN],
                                                      Source.AZURE_MONITOR: [AZ_TOKEN]}


def test_the_documented_per_source_keys_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = tmp_path / "azure-tokens"
    tokens.write_text(f"{AZ_TOKEN}\n")
    monkeypatch.setenv("AGGREGATOR_AUTH__ALERTMANAGER_TOKENS", f'["{AM_TOKEN}"]')
    monkeypatch.setenv("AGGREGATOR_AUTH__AZURE_MONITOR_TOKENS_FILE", str(tokens))
    assert _webhook_tokens(load_settings()) == {Source.ALERTMANAGER: [AM_TOKEN],
                                                Source.AZURE_MONITOR: [AZ_TOKEN]}


def test_a_token_list_in_the_environment_that_is_not_json_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGGREGATOR_AUTH__ALERTMANAGER_TOKENS", AM_TOKEN)
    with pytest.raises(ConfigError, match=r"auth\.alertmanager_tokens: a list of tokens"):
        load_settings()


def test_the_new_shape_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGGREGATOR_AUTH__WEBHOOK_TOKENS__AZURE_MONITOR", f'["{AZ_TOKEN}"]')
    assert _webhook_tokens(load_settings())[Source.AZURE_MONITOR] == [AZ_TOKEN]


def test_the_documented_keys_in_code() -> None:
    auth = AuthSettings(alertmanager_tokens=[AM_TOKEN])  # type: ignore[call-arg]
    assert [t.get_secret_value() for t in auth.tokens_for(Source.ALERTMANAGER)] == [AM_TOKEN]


@pytest.mark.parametrize(("yaml", "expected"), [
    ("auth:\n  alertmanager_tokens: [short]\n",
     "auth.alertmanager_tokens: every token needs at least 16 characters"),
    ("auth:\n  webhook_tokens: {azure_monitor: [short]}\n",
     "auth.azure_monitor_tokens: every token needs at least 16 characters"),
    ("auth:\n  pagerduty_tokens: [pd-token-0123456789abcdef]\n",
     "auth.pagerduty_tokens: Extra inputs are not permitted"),
    ("auth:\n  webhook_tokens: {pagerduty: [pd-token-0123456789abcdef]}\n",
     "auth.webhook_tokens.pagerduty"),
    (f"auth:\n  alertmanager_tokens: [{AM_TOKEN}]\n"
     f"  webhook_tokens: {{alertmanager: [{AM_TOKEN}]}}\n",
     "auth.alertmanager_tokens and auth.webhook_tokens.alertmanager are both set"),
    ("auth:\n  alertmanager_tokens_file: /does/not/exist\n",
     "auth.alertmanager_tokens_file: cannot read /does/not/exist"),
], ids=["short", "short-new-shape", "unknown-source", "unknown-source-new-shape", "both",
        "missing-file"])
def test_bad_webhook_tokens_name_the_key(tmp_path: Path, yaml: str, expected: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert expected in str(info.value)

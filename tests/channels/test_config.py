"""Start-up validation of the channels' settings: their ``ca_file``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aggregator.channels import configure
from aggregator.channels.email import EmailConfig
from aggregator.channels.pagerduty import PagerDutyConfig
from aggregator.channels.tls import ca_bundle_context
from aggregator.config.service import load_settings
from aggregator.errors import ConfigError
from tests.fakes.pagerduty import ROUTING_KEY
from tests.fakes.smtp import Certificate


def pagerduty(**overrides: Any) -> PagerDutyConfig:
    return PagerDutyConfig.model_validate({"type": "pagerduty", "routing_key": ROUTING_KEY,
                                           **overrides})


def email(**overrides: Any) -> EmailConfig:
    return EmailConfig.model_validate({"type": "email", "host": "smtp.example.com",
                                       "from": "alerts@example.com",
                                       "to": ["oncall@example.com"], **overrides})


CHANNELS = pytest.mark.parametrize("make", [pagerduty, email], ids=["pagerduty", "email"])
Make = Any


@CHANNELS
def test_ca_file_is_optional(make: Make) -> None:
    assert make().ca_file is None


@CHANNELS
def test_a_pem_bundle_is_accepted(make: Make, certificate: Certificate) -> None:
    config = make(ca_file=str(certificate.cert_file))
    assert config.ca_file == certificate.cert_file
    context = ca_bundle_context(certificate.cert_file)
    assert len(context.get_ca_certs()) == 1  # exactly the bundle, not the system's CAs


def _bad(ca_file: Path, make: Make = pagerduty) -> str:
    with pytest.raises(ValidationError) as info:
        make(ca_file=str(ca_file))
    [error] = info.value.errors()
    assert error["loc"] == ("ca_file",)
    message = str(error["msg"])
    assert "ca_file" in message and str(ca_file) in message
    return message


@CHANNELS
def test_missing_ca_file_is_refused(make: Make, tmp_path: Path) -> None:
    assert "does not exist" in _bad(tmp_path / "nope.pem", make)


@CHANNELS
def test_a_folder_is_not_a_ca_file(make: Make, tmp_path: Path) -> None:
    assert "is not a file" in _bad(tmp_path, make)


@pytest.mark.parametrize("content", [
    b"",
    b"not a certificate\n",
    b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
], ids=["empty", "text", "broken-pem"])
@CHANNELS
def test_a_file_without_a_certificate_is_refused(make: Make, tmp_path: Path,
                                                 content: bytes) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(content)
    assert "is not a PEM CA bundle" in _bad(bundle, make)


@CHANNELS
def test_a_private_key_is_not_a_ca_bundle(make: Make, certificate: Certificate) -> None:
    assert "is not a PEM CA bundle" in _bad(certificate.key_file, make)


def test_https_only_still_holds_with_a_ca_file(certificate: Certificate) -> None:
    with pytest.raises(ValidationError, match="events_url must start with https://"):
        pagerduty(ca_file=str(certificate.cert_file), events_url="http://127.0.0.1:8443")


@pytest.mark.parametrize(("channel", "expected"), [
    ("    oncall:\n"
     "      type: pagerduty\n"
     f"      routing_key: {ROUTING_KEY}\n"
     "      ca_file: {missing}\n",
     ("notifications.channels.oncall.ca_file", "does not exist", "line 6")),
    ("    team_mail:\n"
     "      type: email\n"
     "      host: smtp.example.com\n"
     "      from: alerts@example.com\n"
     "      to: [oncall@example.com]\n"
     "      ca_file: {folder}\n",
     ("notifications.channels.team_mail.ca_file", "is not a file", "line 8")),
], ids=["pagerduty", "email"])
def test_config_file_error_names_the_key_and_the_line(
        tmp_path: Path, channel: str, expected: tuple[str, ...]) -> None:
    config = tmp_path / "aggregator.yaml"
    config.write_text("notifications:\n  channels:\n" + channel.format(
        missing=tmp_path / "relay-ca.pem", folder=tmp_path))
    settings = load_settings(config)  # the raw entry loads; its type's Config refuses it
    with pytest.raises(ConfigError) as info:
        configure(settings)
    message = str(info.value)
    for part in expected:
        assert part in message

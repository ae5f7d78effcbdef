"""Start-up validation of the notification settings: the PagerDuty channel's ``ca_file``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aggregator.errors import ConfigError
from aggregator.notification_settings import PagerDutyConfig, ca_bundle_context
from aggregator.settings import load_settings
from tests.fakes.pagerduty import ROUTING_KEY
from tests.fakes.smtp import Certificate


def pagerduty(**overrides: Any) -> PagerDutyConfig:
    return PagerDutyConfig.model_validate({"type": "pagerduty", "routing_key": ROUTING_KEY,
                                           **overrides})


def test_ca_file_is_optional() -> None:
    assert pagerduty().ca_file is None


def test_a_pem_bundle_is_accepted(certificate: Certificate) -> None:
    config = pagerduty(ca_file=str(certificate.cert_file))
    assert config.ca_file == certificate.cert_file
    context = ca_bundle_context(certificate.cert_file)
    assert len(context.get_ca_certs()) == 1  # exactly the bundle, not the system's CAs


def _bad(ca_file: Path) -> str:
    with pytest.raises(ValidationError) as info:
        pagerduty(ca_file=str(ca_file))
    [error] = info.value.errors()
    assert error["loc"] == ("ca_file",)
    message = str(error["msg"])
    assert "ca_file" in message and str(ca_file) in message
    return message


def test_missing_ca_file_is_refused(tmp_path: Path) -> None:
    assert "does not exist" in _bad(tmp_path / "nope.pem")


def test_a_folder_is_not_a_ca_file(tmp_path: Path) -> None:
    assert "is not a file" in _bad(tmp_path)


@pytest.mark.parametrize("content", [
    b"",
    b"not a certificate\n",
    b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
], ids=["empty", "text", "broken-pem"])
def test_a_file_without_a_certificate_is_refused(tmp_path: Path, content: bytes) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(content)
    assert "is not a PEM CA bundle" in _bad(bundle)


def test_a_private_key_is_not_a_ca_bundle(certificate: Certificate) -> None:
    assert "is not a PEM CA bundle" in _bad(certificate.key_file)


def test_https_only_still_holds_with_a_ca_file(certificate: Certificate) -> None:
    with pytest.raises(ValidationError, match="events_url must start with https://"):
        pagerduty(ca_file=str(certificate.cert_file), events_url="http://127.0.0.1:8443")


def test_config_file_error_names_the_key_and_the_line(tmp_path: Path) -> None:
    config = tmp_path / "aggregator.yaml"
    config.write_text(
        "notifications:\n"
        "  channels:\n"
        "    oncall:\n"
        "      type: pagerduty\n"
        f"      routing_key: {ROUTING_KEY}\n"
        f"      ca_file: {tmp_path / 'relay-ca.pem'}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    message = str(info.value)
    assert "notifications.channels.oncall.pagerduty.ca_file" in message
    assert "does not exist" in message
    assert "line 6" in message

"""The ``aggregator`` command: check-config, migrate, serve (a real process on loopback)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.cli import main
from aggregator.store import migrate
from tests.helpers import PAYLOADS, load_payload

FIXTURE = PAYLOADS / "alertmanager"
# Start-up of a real process (interpreter, imports, migrations) on a loaded machine: the
# budget only matters when something is broken, a healthy start takes about a second.
START_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AGGREGATOR_") and key != "AGGREGATOR_TEST_DATABASE_URL":
            monkeypatch.delenv(key)


def test_check_config_accepts_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    assert "configuration is valid" in capsys.readouterr().out


def test_check_config_names_the_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("max_body_bytes: 10\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "max_body_bytes" in capsys.readouterr().err


@pytest.mark.parametrize(("channel", "expected"), [
    ("    pager: {type: pagerdutty}\n",
     "notifications.channels.pager.type: unknown channel type 'pagerdutty' "
     "(known: email, log, pagerduty)"),
    ("    pd: {type: pagerduty, routing_key: R0UT1NGk3yF0rT3sts0nlyAbCdEf0123, timeout: 60}\n",
     "notifications.channels.pd.timeout: a send may take 61 s, more than half of "
     "delivery.lease (30 s) allows"),
    ("    mail: {type: email, host: smtp, from: alerts, to: [oncall@example.com]}\n",
     "notifications.channels.mail: Value error, 'alerts' is not an e-mail address"),
], ids=["unknown-type", "lease", "bad-field"])
def test_check_config_refuses_a_bad_channel_with_its_key_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], channel: str, expected: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("notifications:\n  channels:\n" + channel)
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert f"({config} line 3)" in err


def test_serve_refuses_a_public_address_without_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "auth.alertmanager_tokens" in err and "--insecure" in err


def test_migrate_applies_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    assert main(["migrate", "--database-url", url]) == 0
    assert migrate.head_revision() in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _not_ready(process: subprocess.Popen[bytes], url: str) -> str | None:
    """None once ``url`` answers 200; else why it never did (exited, or out of time)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with code {process.returncode} before {url} answered"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return None
        except OSError:  # refused while starting, or 503 (HTTPError) while not ready
            pass
        time.sleep(0.1)
    return f"did not answer {url} with 200 within {START_TIMEOUT:.0f} s"


@contextlib.contextmanager
def running(tmp_path: Path, command: str, *args: str,
            started: list[subprocess.Popen[bytes]] | None = None) -> Iterator[str]:
    """``aggregator <command> [args]`` with no settings, in ``tmp_path``, ready; its base URL.

    On leaving, SIGTERM must stop it with exit code 0."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", command, "--port", str(port), *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    if started is not None:
        started.append(process)
    base = f"http://127.0.0.1:{port}"
    try:
        problem = _not_ready(process, f"{base}/readyz")
        if problem is None:
            yield base
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    if problem is not None:
        raise AssertionError(f"aggregator {command} {problem}; its output:\n{output}")
    assert process.returncode == 0, output


def test_serve_runs_with_no_settings_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The embedded default: SQLite file in the working directory, migrated on start."""
    with running(tmp_path, "serve") as base:
        body = (FIXTURE / "firing_single_alert_group.json").read_bytes()
        request = urllib.request.Request(f"{base}/webhooks/alertmanager", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
        with urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=5) as response:
            assert json.load(response)["items"][0]["name"] == "KubeNodeNotReady"
        assert (tmp_path / "aggregator.db").exists()


def test_worker_command_serves_health_and_metrics_and_stops(tmp_path: Path) -> None:
    with running(tmp_path, "worker") as base:
        sample = b'aggregator_outbox_notifications{status="pending"} 0.0'
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the worker's first pass sets the outbox gauges
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
                metrics = response.read()
            if sample in metrics:
                break
            if time.monotonic() > deadline:
                raise AssertionError("the worker never reported the outbox depth:\n"
                                     + metrics.decode(errors="replace"))
            time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=5)
        info.value.close()
        assert info.value.code == 404  # the worker does not serve the API


def _children(pid: int) -> list[int]:
    return [int(child) for child in
            Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _post_alert(base: str, name: str) -> None:
    body = load_payload("alertmanager", "firing_single_alert_group.json")
    for alert in body["alerts"]:
        alert["labels"]["alertname"] = name
    request = urllib.request.Request(f"{base}/webhooks/alertmanager",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202


def test_serve_processes_share_the_port_and_stop_together(tmp_path: Path) -> None:
    started: list[subprocess.Popen[bytes]] = []
    with running(tmp_path, "serve", "--processes", "2", started=started) as base:
        children = _children(started[0].pid)
        assert len(children) == 2
        for n in range(20):  # new connections spread over both copies; all land once
            _post_alert(base, f"Spread{n}")
        with urllib.request.urlopen(f"{base}/api/v1/alerts?limit=100", timeout=5) as response:
            names = [item["name"] for item in json.load(response)["items"]]
        assert sorted(names) == sorted(f"Spread{n}" for n in range(20))
    # SIGTERM reached both copies: none is left behind
    assert not any(Path(f"/proc/{child}").exists() for child in children)


def test_serve_processes_stop_all_when_one_dies(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "serve", "--port", str(port), "--processes", "2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        children: list[int] = []
        deadline = time.monotonic() + START_TIMEOUT
        while len(children) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
            children = _children(process.pid)
        assert len(children) == 2, children
        os.kill(children[0], 9)
        output = process.communicate(timeout=30)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, output
    assert "stopping the others" in output
    assert not Path(f"/proc/{children[1]}").exists()

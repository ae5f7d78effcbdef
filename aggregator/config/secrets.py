"""The one reader of secret files (mounted Kubernetes Secrets): ``*_file`` settings.

Errors name the setting and the file, never the content.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr


def read_secret(path: Path, setting: str) -> SecretStr:
    """The stripped content of a secret file; ``ValueError`` naming ``setting`` when it cannot
    be read."""
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path}: {exc.strerror}") from exc


def read_secret_lines(path: Path, setting: str) -> list[SecretStr]:
    """One secret per non-empty line (token lists), through :func:`read_secret`."""
    text = read_secret(path, setting).get_secret_value()
    return [SecretStr(line.strip()) for line in text.splitlines() if line.strip()]

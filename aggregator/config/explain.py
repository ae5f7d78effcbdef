"""Settings errors explained: the dotted key, pydantic's reason, and where to fix it (the
YAML file's line, or the environment variable's name)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

ENV_PREFIX = "AGGREGATOR_"


def _yaml_line(path: Path, loc: tuple[int | str, ...]) -> int | None:
    """The line in the YAML file of the deepest key on ``loc`` that the file has."""
    try:
        node: yaml.Node | None = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    node, line = value, key.start_mark.line + 1
                    break
        elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
              and part < len(node.value)):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


def describe_problem(loc: tuple[int | str, ...], message: str, path: Path | None) -> str:
    """One line: the dotted key of ``loc``, ``message``, and where to fix it."""
    line = _yaml_line(path, loc) if path is not None else None
    key = ".".join(str(part) for part in loc) or "settings"
    if line is not None:
        return f"{key}: {message} ({path} line {line})"
    env = f"{ENV_PREFIX}{key.upper().replace('.', '__')}"
    where = f" (in {path or 'the YAML file'} or {env})" if key != "settings" else ""
    return f"{key}: {message}{where}"


def describe_problems(lines: list[str]) -> str:
    """The text of a :class:`~aggregator.errors.ConfigError` listing ``lines``."""
    return "invalid settings:\n  " + "\n  ".join(lines)


def describe_validation_error(exc: ValidationError, path: Path | None,
                              prefix: tuple[int | str, ...] = ()) -> str:
    """Every error of ``exc``; ``prefix`` is where the validated part sits in the settings
    (``("notifications", "channels", name)`` for one channel entry validated on its own)."""
    return describe_problems(error_lines(exc, path, prefix))


def error_lines(exc: ValidationError, path: Path | None,
                prefix: tuple[int | str, ...] = ()) -> list[str]:
    """One :func:`describe_problem` line per error of ``exc``."""
    return [describe_problem((*prefix, *error["loc"]), error["msg"], path)
            for error in exc.errors(include_url=False)]

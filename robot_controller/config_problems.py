"""One line for a configuration that cannot be used: the key as a file spells it, and where its
value came from (the `FMD_…` variable that set it, else the file that holds its section)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

ENV_PREFIX = "FMD_"
_SECRET_WORDS = ("password", "secret")

Key = list[int | str]


def key_of(loc: Sequence[int | str], data: Any) -> Key:
    """The key of an error's location in `data` as a file spells it: the tag of a section that
    is one of several kinds (`soap` in `hub.soap.url`) is no level of the file, and is dropped."""
    parts: Key = []
    node = data
    for part in loc:
        if isinstance(node, Mapping) and part not in node and node.get("kind") == part:
            continue
        parts.append(part)
        node = _child(node, part)
    return parts


def dotted(key: Key) -> str:
    """`hub.timeout_s`, `scanners.0.port`."""
    return ".".join(str(part) for part in key)


def variable_of(key: Key, environ: Mapping[str, str] = os.environ) -> str | None:
    """The `FMD_…` variable that set the value at `key`, or the section holding it (as JSON),
    when one did (matched without regard to case, as the settings read them)."""
    names = {name.upper(): name for name in environ}
    for end in range(len(key), 0, -1):
        name = ENV_PREFIX + "__".join(str(part) for part in key[:end]).upper()
        if name in names:
            return names[name]
    return None


def overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `top` merged into it, tables key by key (as the settings merge the
    environment into a file's values)."""
    merged = dict(base)
    for name, value in top.items():
        below = merged.get(name)
        both_tables = isinstance(below, Mapping) and isinstance(value, Mapping)
        merged[name] = overlay(below, value) if both_tables else value  # type: ignore[arg-type]
    return merged


def first_problem(error: ValidationError, data: Any = None) -> str:
    """The first problem of `error` as `key: what (got value)`, and how many more there are."""
    problems = []
    for item in error.errors():
        name, what = _described(item, key_of(item["loc"], data))
        problems.append(f"{name}: {what}" if name else what)
    return _counted(problems)


def blame(
    error: ValidationError,
    data: Mapping[str, Any],
    origins: Mapping[str, Path],
    read: Path,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The first problem of `error` in one line, naming the variable or the file it came from
    (`origins`: the file each section of `data` was taken from; `read`: the file asked for),
    and how many more there are. A secret's value is never shown."""
    problems = []
    for item in error.errors():
        key = key_of(item["loc"], data)
        name, what = _described(item, key)
        variable = variable_of(key, environ)
        if variable is not None:
            problems.append(f"{variable} ({name}): {what}")
        else:
            source = origins.get(str(key[0]), read) if key else read
            problems.append(f"{source}: {name}: {what}" if name else f"{source}: {what}")
    return _counted(problems)


def _described(item: ErrorDetails, key: Key) -> tuple[str, str]:
    """The key and what is wrong with its value (shown, unless it is a secret or a table)."""
    name = dotted(key)
    value = item.get("input")
    secret = any(word in name for word in _SECRET_WORDS)
    shown = "" if secret or isinstance(value, Mapping | list) else f" (got {value!r})"
    return name, item["msg"].removeprefix("Value error, ") + shown


def _counted(problems: Sequence[str]) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, Mapping):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None

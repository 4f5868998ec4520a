"""A configuration section written as TOML that `load_config` takes back (what `fmd-robot sim
hub --print-config` prints)."""

from __future__ import annotations

import json

from pydantic import BaseModel


def toml_section(name: str, section: BaseModel) -> str:
    """`[name]` and the keys of `section` that differ from their defaults."""
    values = section.model_dump(mode="json", exclude_defaults=True)
    return "\n".join([f"[{name}]", *(f"{k} = {_value(v)}" for k, v in values.items())]) + "\n"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # inf and nan as TOML spells them
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")

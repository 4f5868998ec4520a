"""One line for a configuration that cannot be used: the key as a file spells it, and where its
value came from (the `FMD_…` variable that set it, else the file that holds its section)."""

from __future__ import annotations

import os
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

ENV_PREFIX = "FMD_"
_SECRET_WORDS = ("password", "secret")
_NO_SUCH_KIND = frozenset({"union_tag_invalid", "union_tag_not_found"})

Key = list[int | str]


def key_of(loc: Sequence[int | str], root: Any) -> Key:
    """The key of an error's location as a file spells it, for a value of type `root` (a model,
    or a union of them). Pydantic's location has levels no file has: the tag of a section that
    is one of several kinds (`soap` in `hub.soap.url`) and, below a value, the member of a
    union it was tried as (`int` in `…source.int`); both are dropped."""
    parts: Key = []
    models, listed = models_in(root), _is_list(root)
    tagged = len(models) > 1
    for part in loc:
        if listed and isinstance(part, int):
            parts.append(part)
            listed = False
            continue
        if tagged:
            tagged = False
            chosen = [model for model in models if _tag(model) == part]
            if chosen:
                models = chosen
                continue
        field = next((m.model_fields[part] for m in models if part in m.model_fields), None)
        if field is None:
            if models and isinstance(part, str):
                parts.append(part)  # a key the section does not have
            break
        parts.append(part)
        models, listed = models_in(field.annotation), _is_list(field.annotation)
        tagged = len(models) > 1
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


def first_problem(error: ValidationError, root: Any) -> str:
    """The first problem of `error` (validating a `root`) as `key: what (got value)`, and how
    many more there are."""
    problems = []
    for item in error.errors():
        name, what = _described(item, _key(item, root))
        problems.append(f"{name}: {what}" if name else what)
    return _counted(problems)


def blame(
    error: ValidationError,
    root: type[BaseModel],
    origins: Mapping[str, Path],
    read: Path,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The first problem of `error` (validating a `root`) in one line, naming the variable or
    the file its value came from (`origins`: the file each section was taken from; `read`: the
    file asked for), and how many more there are. A secret's value is never shown."""
    problems = []
    for item in error.errors():
        key = _key(item, root)
        name, what = _described(item, key)
        variable = variable_of(key, environ)
        if variable is not None:
            problems.append(f"{variable} ({name}): {what}")
        else:
            source = origins.get(str(key[0]), read) if key else read
            problems.append(f"{source}: {name}: {what}" if name else f"{source}: {what}")
    return _counted(problems)


def _key(item: ErrorDetails, root: Any) -> Key:
    """The key at fault: a section of no known kind is its `kind`'s fault."""
    key = key_of(item["loc"], root)
    return [*key, "kind"] if item["type"] in _NO_SUCH_KIND else key


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


def members(annotation: Any) -> list[Any]:
    """The types a value of `annotation` may be: unions and `Annotated` unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in members(arg)]
    return [annotation]


def _is_list(annotation: Any) -> bool:
    return any(get_origin(member) is list for member in members(annotation))


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a value of `annotation` may be (the items', for a list)."""
    found: list[type[BaseModel]] = []
    for member in members(annotation):
        if get_origin(member) is list:
            found += models_in(get_args(member)[0])
        elif isinstance(member, type) and issubclass(member, BaseModel):
            found.append(member)
    return found


def _tag(model: type[BaseModel]) -> object:
    """The `kind` a model of a discriminated union is chosen by (None: it has none)."""
    field = model.model_fields.get("kind")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return get_args(field.annotation)[0]

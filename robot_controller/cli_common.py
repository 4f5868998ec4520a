"""What the commands share: their configuration, the store they work on (which must exist), the
check that the site's hub exists outside a simulation, and the shape of one hub answer."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from fmd.hub import HubResult
from robot_controller.config import Config, ConfigError, MockHubConfig, load_config
from robot_controller.console import fail, out
from robot_controller.person_text import line_problem
from robot_controller.store import Store, StoreError
from robot_controller.store.locks import sqlite_path
from robot_controller.wiring import open_store

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML configuration file (default: embedded).")
]


def person_text(option: str, value: str) -> str:
    """What a person typed for `option` (a name, a reason) as the audit log keeps it: a usage
    error when it holds control characters (`person_text.line_problem`). (Whether it may be
    empty is the caller's rule.)"""
    problem = line_problem(value)
    if problem is not None:
        raise fail(f"{option}: {problem}")
    return value


def settings_of(config: Path | None) -> Config:
    """The configuration at `config` (the embedded one for None); a usage error otherwise."""
    try:
        return load_config(config)
    except ConfigError as error:
        raise fail(str(error)) from None


@contextmanager
def existing_store(settings: Config, *, read_only: bool = False) -> Iterator[Store]:
    """The configured store, which must exist (usage error otherwise: a command that finds
    nothing there creates nothing); migrated unless `read_only`."""
    url = settings.store.url
    path = sqlite_path(make_url(url))
    if path is not None and not path.is_file():
        raise fail(f"store: {path.absolute()} does not exist (nothing recorded there yet)")
    try:
        store = open_store(url, read_only=read_only)
    except (ConfigError, StoreError) as error:
        raise fail(str(error)) from None
    try:
        yield store
    finally:
        store.close()


def real_hub(settings: Config) -> Config:
    """`settings`, if its hub exists outside a running simulation (usage error otherwise)."""
    hub = settings.hub
    if isinstance(hub, MockHubConfig) and hub.master_data is None:
        raise fail(
            "hub: this configuration's national system is simulated and exists only while "
            "`fmd-robot run` or `fmd-robot demo` runs; give --config with a hub of kind "
            '"soap" or "rest", or of kind "mock" with master_data = "FILE.json"'
        )
    return settings


def answer_of(result: HubResult) -> dict[str, object]:
    """The `verify --json` object: what the hub answered to one pack."""
    return {
        "outcome": result.outcome,
        "return_code": result.return_code,
        "state": result.state.value,
        "reasons": [r.value for r in result.reasons],
        "alert_id": result.alert_id,
        "message": result.message,
        "latency_ms": round(result.latency_s * 1000, 1),
    }


LABELS = {
    "return_code": "return code",
    "alert_id": "alert id",
    "latency_ms": "answered in (ms)",
    "token": "pack",
    "product_code": "product code",
    "expiry_raw": "expiry as printed",
    "nhrn": "national number (NHRN)",
    "nhrn_ai": "national number field",
    "submit": "sent to the hub",
}
"""Plain words for the JSON keys shown to people (JSON keeps its keys)."""


def human(key: str, value: object) -> tuple[str, str]:
    """A key and its value as a person reads them."""
    if value in (None, []):
        shown = "—"
    elif isinstance(value, bool):
        shown = "yes" if value else "no"
    elif isinstance(value, list):
        shown = ", ".join(str(item) for item in value)
    else:
        shown = str(value)
    return LABELS.get(key, key.replace("_", " ")), shown


def show_answer(answer: dict[str, object], as_json: bool) -> None:
    """One JSON object on stdout, or a table for people."""
    if as_json:
        sys.stdout.write(json.dumps(answer) + "\n")
        return
    table = Table(show_header=False, box=None)
    for key, value in answer.items():
        table.add_row(*human(key, value))
    out.print(table)

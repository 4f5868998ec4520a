"""The type of the `logs` fixture: every structlog event a test causes."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

Logs = list[MutableMapping[str, Any]]

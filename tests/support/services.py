"""Services a test needs (PostgreSQL, a native decoder, …): skip when missing, fail under CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def services_required() -> bool:
    """Under CI (`FMD_REQUIRE_SERVICES=1`) a missing service fails the test instead of skipping."""
    return os.environ.get("FMD_REQUIRE_SERVICES") == "1"


def require(what: str) -> NoReturn:
    """`what` is missing: skip the test, or fail it under `FMD_REQUIRE_SERVICES=1`."""
    if services_required():
        pytest.fail(f"{what} is required (FMD_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} not available")

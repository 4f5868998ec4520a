"""Processes on one store, started together (`tests/support/store_child.py`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).parents[2]  # `python -m tests.support.store_child` finds `tests` here


def store_child(*args: str) -> subprocess.Popen[str]:
    """A child process on a store; it has printed "ready" when this returns."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.store_child", *args],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def run_together(children: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    """Open the start gate of every child at once; each one's exit code and standard error."""
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        _, err = child.communicate(timeout=60)
        results.append((child.returncode, err))
    return results


@contextmanager
def holding(url: str, robot: str = "robot") -> Iterator[subprocess.Popen[str]]:
    """Another process holding the store as `robot`'s daemon does, until the block ends."""
    child = store_child("hold", url, robot)
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    assert line == "held", child.stderr.read() if child.stderr else line
    try:
        yield child
    finally:
        child.communicate(input="", timeout=30)

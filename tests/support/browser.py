"""Real browsers on real servers: Debian's Chromium driven by Playwright, a `fmd-robot demo
--web` serving the screens, and screenshots kept as test artefacts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

from tests.support.processes import ROOT
from tests.support.services import require

READY = re.compile(r"web: (http://\S+) — sign in with the token (\S+)")
STARTUP_S = 60


def chromium_path() -> str:
    """Chromium's executable (`$FMD_CHROMIUM`, else Debian's); missing: skipped, or failed
    under `FMD_REQUIRE_SERVICES=1`."""
    path = os.environ.get("FMD_CHROMIUM") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        require(f"chromium ({path}; apt-get install -y chromium, or set FMD_CHROMIUM)")
    return path


CHROMIUM_ARGS = (
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
    "--disable-dev-shm-usage",  # a container's /dev/shm is small
    "--disable-gpu",
)


def artifacts_dir() -> Path:
    """Where screenshots go: `$FMD_ARTIFACTS`, else `test-artifacts/` at the repository root."""
    folder = Path(os.environ.get("FMD_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def artifact_name(test_id: str, what: str) -> Path:
    """A file for `what` of the test `test_id` (its node id, made a file name)."""
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_id.split("::")[-1]).strip("_")
    return artifacts_dir() / f"{test}-{what}.png"


@dataclass
class Demo:
    """A running `fmd-robot demo --web`: its address, the admin's token, what it printed."""

    process: subprocess.Popen[str]
    url: str
    token: str
    lines: Queue[str] = field(default_factory=Queue)
    stderr: list[str] = field(default_factory=list)

    def wait_for(self, text: str, timeout_s: float = STARTUP_S) -> str:
        """The next line of standard error containing `text` (AssertionError after the timeout
        or when the demo ended)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout_s)
            except Empty:
                raise AssertionError(f"the demo did not print {text!r}") from None
            if line == "":
                raise AssertionError(f"the demo ended before {text!r}:\n{''.join(self.stderr)}")
            if text in line:
                return line


@contextmanager
def demo_web(*args: str) -> Iterator[Demo]:
    """`fmd-robot demo --web --web-port 0 ARGS` until the block ends (then SIGTERM)."""
    command = [sys.executable, "-m", "robot_controller", "demo", "--web", "--web-port", "0"]
    process = subprocess.Popen(
        [*command, *args],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )  # fmt: skip
    lines: Queue[str] = Queue()
    seen: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            seen.append(line)
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    try:
        starting = Demo(process, "", "", lines, seen)
        found = READY.search(starting.wait_for("sign in with the token"))
        assert found, "".join(seen)
        yield Demo(process, found.group(1), found.group(2), lines, seen)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

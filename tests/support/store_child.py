"""A process on a store, for tests that need real locks between processes.

Usage, from the project root: python -m tests.support.store_child ACTION URL [ARG]
  write URL N    record N scans, each in its own transaction
  open URL       open (create or migrate) the store, then close it
  hold URL ROBOT hold the store as ROBOT's daemon does, until standard input closes
Each action waits for a line on standard input first (so several start at once), prints
"ready" before that wait and "done" at the end.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from robot_controller.store import Store
from robot_controller.store.locks import hold_store
from scanners.base import Scan


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(action: str, url: str, arg: str = "") -> None:
    say("ready")
    if action == "hold":
        lock = hold_store(url, robot=arg)  # as a daemon does, before it opens anything
        store = Store.open(url)
        say("held")
        sys.stdin.read()
        store.close()
        lock.release()
    else:
        sys.stdin.readline()  # the start gate
        store = Store.open(url)
        at = datetime.now(UTC)
        for n in range(int(arg or 0) if action == "write" else 0):
            store.record_scan(Scan(f"scan {n}", None, "child", at), at=at)
        store.close()
    say("done")


if __name__ == "__main__":
    main(*sys.argv[1:])

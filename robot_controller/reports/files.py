"""Report files appear whole or not at all."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NothingToReport(Exception):
    """The period holds nothing for this report (one line: what and when)."""


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` that becomes `path` when the block ends, and is removed
    when it fails (`NothingToReport` among the failures): a report is never left half written,
    and an empty one is never written. A path that holds something other than a file (a
    folder, a device, a FIFO) is refused before anything is written: it would be replaced."""
    if path.exists() and not path.is_file():
        raise FileExistsError(errno.EEXIST, "it is not a file (a folder, a device…)")
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)

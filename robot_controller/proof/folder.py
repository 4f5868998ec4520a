"""The folder of checkpoint files, outside the store: one signed note per checkpoint, named
`SEQ-ID.checkpoint` (its seq, zero-padded, and its id in the store), written whole or not at
all. A file's name is only a name: what counts is what it holds."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from robot_controller.proof.note import Checkpoint, NoteError, parse

SUFFIX = ".checkpoint"
_MAX_BYTES = 4096  # a note is some 200 bytes; a bigger file is not one


def write(folder: Path, checkpoint: Checkpoint, checkpoint_id: int) -> Path:
    """Write the checkpoint's file into `folder` (made if missing); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{checkpoint.seq:012d}-{checkpoint_id}{SUFFIX}"
    fd, aside = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(checkpoint.note)
            file.flush()
            os.fsync(file.fileno())
        os.replace(aside, path)
    except BaseException:
        Path(aside).unlink(missing_ok=True)
        raise
    return path


def read(folder: Path) -> Iterator[tuple[Path, Checkpoint | NoteError]]:
    """Each checkpoint file in `folder`, in name order, with its checkpoint or what is wrong
    with it."""
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        yield path, _read_one(path)


def _read_one(path: Path) -> Checkpoint | NoteError:
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_BYTES + 1)
    except OSError as error:
        return NoteError(f"cannot read it: {error.strerror or error}")
    if len(data) > _MAX_BYTES:
        return NoteError(f"over {_MAX_BYTES} bytes, too big to be a checkpoint")
    try:
        return parse(data.decode("utf-8"))
    except UnicodeDecodeError:
        return NoteError("not UTF-8 text")
    except NoteError as error:
        return error

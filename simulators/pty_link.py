"""A pseudo-terminal behind a stable symlink, the cable of a simulated serial device.

The link points at the current `/dev/pts/N` (as udev's `/dev/serial/by-id/…` links do), so a
reader can reopen it after `unplug()` / `replug()`. Both ends of the pty stay open while it lives:
writes to the master then never fail because no reader is attached.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import tty
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self


class PtyLink:
    """A pty pair and its stable link `port`, in `link_dir` (or a temporary directory)."""

    def __init__(self, what: str, *, link_dir: Path | None, name: str, temp_prefix: str) -> None:
        self._what = what
        self._link_dir = link_dir
        self._name = name
        self._temp_prefix = temp_prefix
        self._dir: Path | None = None  # where the link lives, while started
        self._fds: tuple[int, int] | None = None  # master, slave
        self._device: str | None = None

    @property
    def port(self) -> Path:
        """The stable path of the port (a symlink to the current pty), while started."""
        if self._dir is None:
            raise RuntimeError(f"the {self._what} is not started")
        return self._dir / self._name

    @property
    def device(self) -> str | None:
        """The current `/dev/pts/N`, or None while unplugged."""
        return self._device

    @property
    def fds(self) -> tuple[int, int] | None:
        """The master and slave descriptors, or None while unplugged (a new pair on replug)."""
        return self._fds

    def start(self) -> None:
        """Create the link's directory, if not yet done."""
        if self._dir is None:
            if self._link_dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix=self._temp_prefix))
            else:
                self._dir = self._link_dir
                self._dir.mkdir(parents=True, exist_ok=True)

    def stop(self) -> None:
        """Unplug, and remove what `start` created."""
        self.unplug()
        if self._dir is not None and self._link_dir is None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def unplug(self) -> None:
        """Pull the cable: the pty goes away (a reader gets an error or end of input) and so
        does the link."""
        with contextlib.suppress(FileNotFoundError, RuntimeError):
            self.port.unlink()
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
        self._fds = None
        self._device = None

    def replug(self) -> int:
        """Plug in again: a new pty, and the link re-pointed to it. Returns the master, which
        never blocks (a full pty must not block the simulator)."""
        self.unplug()
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR→LF translation: bytes pass as sent
        os.set_blocking(master, False)
        self._fds = (master, slave)
        self._device = os.ttyname(slave)
        staged = self.port.with_name(f".{self._name}.{os.getpid()}.new")
        staged.unlink(missing_ok=True)
        staged.symlink_to(self._device)
        staged.replace(self.port)
        return master


class PtyDevice(ABC):
    """A simulated device on a `PtyLink`: its `port` and `device`, and `with` for start/stop."""

    _pty: PtyLink

    @property
    def port(self) -> Path:
        """The stable path of the port (a symlink to the current pty), while started."""
        return self._pty.port

    @property
    def device(self) -> str | None:
        """The current `/dev/pts/N`, or None while unplugged."""
        return self._pty.device

    @abstractmethod
    def start(self) -> None:
        """Start the device and plug it in."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the device, unplug it, and remove what `start` created."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""A pyserial port owned by a reader thread, for any driver of a serial device.

The thread reads with a short timeout (so `aclose` is prompt and never blocks the event loop) and
posts what it reads, and what happens to the link, to the event loop. When the device goes away
it reopens the port with exponential backoff and jitter until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import serial

READ_TIMEOUT_S = 0.05
"""How long one read waits for a byte: bounds how long `aclose` waits for the reader thread."""

_OPEN_ERRORS = (serial.SerialException, OSError, ValueError)


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The device went away (the port is closed); the reader is reopening it."""

    cause: str


@dataclass(frozen=True, slots=True)
class StillDown:
    """The port would not open again, for a reason not posted before."""

    error: str


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The port is open again."""


LinkItem = bytes | LinkDown | StillDown | LinkUp | Exception | None
"""What the reader posts: bytes, a link event, an Exception (a bug: the reader failed), and
last None (the reader has stopped and closed the port)."""


class SerialLink:
    """A serial port at `url` and the thread that reads it. `failure` turns what pyserial
    raised on opening into the driver's own error, whose text is also what `StillDown` says."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        failure: Callable[[BaseException], Exception],
        baudrate: int,
        bytesize: int,
        parity: str,
        stopbits: float,
        reconnect_initial_s: float,
        reconnect_max_s: float,
        write_timeout: float | None = None,
    ) -> None:
        self.url = url
        self._name = name
        self._failure = failure
        self._baudrate = baudrate
        self._bytesize = bytesize
        self._parity = parity
        self._stopbits = stopbits
        self._write_timeout = write_timeout
        self._reconnect_initial_s = reconnect_initial_s
        self._reconnect_max_s = reconnect_max_s
        self._port: serial.Serial | None = None
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def port(self) -> serial.Serial | None:
        """The open port, if any (it changes on a reconnect)."""
        return self._port

    @property
    def reading(self) -> bool:
        """The reader thread has been started (and not yet joined by `aclose`)."""
        return self._reader is not None

    @property
    def stopped(self) -> bool:
        """`stop` or `aclose` was called since the reader last started."""
        return self._stop.is_set()

    def open(self) -> None:
        """Open the port now (idempotent); raise `failure`'s error when it cannot be."""
        if self._port is None:
            try:
                self._port = self._connect()
            except _OPEN_ERRORS as error:
                raise self._failure(error) from error

    def start(self, loop: asyncio.AbstractEventLoop, handle: Callable[[LinkItem], None]) -> None:
        """Start reading the open port: `handle` gets each `LinkItem` on `loop`."""

        def post(item: LinkItem) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
                loop.call_soon_threadsafe(handle, item)

        self._stop.clear()
        self._reader = threading.Thread(
            target=self._read_loop, args=(post,), name=self._name, daemon=True
        )
        self._reader.start()

    def stop(self) -> None:
        """Ask the reader to stop (it closes the port within about READ_TIMEOUT_S)."""
        self._stop.set()

    async def aclose(self) -> None:
        """Stop the reader, wait for it, and close the port."""
        self._stop.set()
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join)
            self._reader = None
        self._close_port()

    def write(self, data: bytes) -> None:
        """Write to the port (blocking, up to `write_timeout`); SerialException when closed."""
        port = self._port
        if port is None:
            raise serial.SerialException("the port is closed")
        port.write(data)

    # -- the reader thread ---------------------------------------------------------------------

    def _read_loop(self, post: Callable[[LinkItem], None]) -> None:
        try:
            while not self._stop.is_set() and (port := self._port) is not None:
                try:
                    data = _read_some(port)
                except (serial.SerialException, OSError) as error:  # the device went away
                    self._close_port()
                    post(LinkDown(str(error) or type(error).__name__))
                    self._port = self._reconnect(post)
                    if self._port is not None:
                        post(LinkUp())
                    continue
                if data:
                    post(data)
        except Exception as error:  # noqa: BLE001 - a bug: fail loudly rather than hang whoever waits
            post(error)
        finally:
            self._close_port()
            post(None)

    def _reconnect(self, post: Callable[[LinkItem], None]) -> serial.Serial | None:
        """Open the port again, backing off exponentially with jitter; None once stopped.
        Each new reason for failing is posted once (it may say what to do, such as a
        permission to fix)."""
        delay = self._reconnect_initial_s
        reported = ""
        while not self._stop.wait(delay * random.uniform(0.75, 1.0)):  # noqa: S311 - jitter
            try:
                return self._connect()
            except _OPEN_ERRORS as error:
                message = str(self._failure(error))
                if message != reported:
                    reported = message
                    post(StillDown(reported))
                delay = min(delay * 2, self._reconnect_max_s)
        return None

    def _connect(self) -> serial.Serial:
        return serial.serial_for_url(
            self.url,
            baudrate=self._baudrate,
            bytesize=self._bytesize,
            parity=self._parity,
            stopbits=self._stopbits,
            timeout=READ_TIMEOUT_S,
            write_timeout=self._write_timeout,
            exclusive=True,
        )

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):  # closing a vanished device may fail; it is gone
                port.close()


def _read_some(port: serial.Serial) -> bytes:
    """Wait up to the port's timeout for a byte, then take whatever else has arrived."""
    data = port.read(1)
    waiting = port.in_waiting if data else 0
    return data + port.read(waiting) if waiting else data

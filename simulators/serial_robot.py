"""A robot on a serial line: ARCHITECTURE.md's line protocol served on a pty over a `RobotModel`.

Written from the spec, not from `robot_controller` (simulators never import it): an independent
peer, so the host's codec is checked against a second reading of the protocol. The port is a
stable symlink to the current `/dev/pts/N` (`pty_link`), as for the virtual scanner, so `unplug()` /
`replug()` pull and replace the cable. A thread runs the simulator's own event loop: requests,
the model's jobs, `* HB <n>` every `heartbeat_s`, `* STATE` on each state change, and the host
watchdog (`RobotFaults.watchdog_s`).

Replies are remembered by seq (the last `_MEMORY` jobs, CMDs and fault ACKs): a repeated request
is answered again from memory and never executed twice. Faults: `RobotFaults.silent` (nothing
is read or sent, heartbeats stop), `lose_next_reply` (a job's DONE/ERR is not sent, once), and
here `corrupt_replies` (that many next replies go out with a wrong checksum) and
`corrupt_requests` (that many next requests are taken as garbled on the wire: NAK 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import operator
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulators.pty_link import PtyDevice, PtyLink
from simulators.robot_model import (
    JobCode,
    JobResult,
    RobotFaults,
    RobotModel,
    Timings,
    sleep_unless,
)

HEARTBEAT_S = 0.25
NAK_BAD_CHECKSUM, NAK_BAD_FRAME, NAK_NOT_ALLOWED, NAK_SEQ_REUSED = 1, 2, 3, 4
_MAX_LINE = 128
_MEMORY = 32
_ARITY = {"PLACE": 1, "REJECT": 2, "QUARANTINE": 2, "RETRIEVE": 2, "STATUS": 0, "CMD": 1, "ACK": 1}
_JOBS = {
    "PLACE": JobCode.PLACE_ON_SHELF,
    "REJECT": JobCode.DIVERT_TO_REJECT,
    "QUARANTINE": JobCode.DIVERT_TO_QUARANTINE,
    "RETRIEVE": JobCode.RETRIEVE_TO_QUARANTINE,
}


def _xor(body: bytes) -> int:
    return functools.reduce(operator.xor, body, 0)


def frame(head: int | str, verb: str, *args: int) -> bytes:
    """One line: `<head> <VERB> [args…]*XX` CR LF."""
    body = " ".join(map(str, (head, verb, *args))).encode("ascii")
    return body + b"*%02X\r\n" % _xor(body)


@dataclass(frozen=True, slots=True)
class HostRequest:
    head: str  # the seq as sent, or "*"
    verb: str
    args: tuple[int, ...]
    error: int = 0  # the NAK code of a bad line

    @property
    def seq(self) -> int | None:
        ok = self.head.isascii() and self.head.isdecimal() and 1 <= int(self.head) <= 0xFFFF
        return int(self.head) if ok else None


def parse_request(line: bytes) -> HostRequest:
    body, star, sent = line.rpartition(b"*")
    words = (body if star else line).decode("latin-1").split(" ")
    head, verb, args = words[0], "".join(words[1:2]), words[2:]
    if len(sent) != 2 or sent.upper() != b"%02X" % _xor(body):
        return HostRequest(head, verb, (), NAK_BAD_CHECKSUM)
    arity = (1 if verb == "HB" else None) if head == "*" else _ARITY.get(verb)
    if arity != len(args) or not all(arg.isascii() and arg.isdecimal() for arg in args):
        return HostRequest(head, verb, (), NAK_BAD_FRAME)
    return HostRequest(head, verb, tuple(int(arg) for arg in args))


class SerialRobotSimulator(PtyDevice):
    """A `RobotModel` on a pty; `port` is the path the host opens."""

    def __init__(
        self,
        model: RobotModel,
        *,
        link_dir: Path | None = None,
        name: str = "fmd-serial-robot",
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.model = model
        self.heartbeat_s = heartbeat_s
        self.corrupt_replies = 0
        self.corrupt_requests = 0
        self._pty = PtyLink(
            "serial robot simulator", link_dir=link_dir, name=name, temp_prefix="fmd-serial-robot-"
        )
        self._buffer = b""
        self._replies: OrderedDict[int, tuple[HostRequest, list[bytes]]] = OrderedDict()
        self._state: int | None = None  # as last reported
        self._jobs: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start serving, and plug the cable in."""
        if self._thread is not None:
            return
        self._pty.start()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="serial robot simulator", daemon=True
        )
        self._thread.start()
        ready.wait()
        self.replug()

    def stop(self) -> None:
        """Stop serving (a running job is cancelled), unplug, and remove what `start` made."""
        if self._thread is None or self._loop is None or self._stopping is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join()
        self._thread = None
        self._pty.stop()

    def unplug(self) -> None:
        """Pull the cable: the pty and its link go away; the robot keeps running."""
        self._in_loop(self._unplug)

    def replug(self) -> None:
        """Plug in again: a new pty, the link re-pointed to it."""
        self._in_loop(self._replug)

    def send_raw(self, data: bytes) -> None:
        """Put bytes on the line as they are (garbage, half lines…)."""
        self._in_loop(lambda: self._send(data))

    # -- the simulator's thread and loop -------------------------------------------------------

    def _in_loop(self, call: Callable[[], None]) -> None:
        if self._loop is None:
            raise RuntimeError("the serial robot simulator is not started")

        async def run() -> None:
            call()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=5)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(ready))
        finally:
            loop.close()
            self._loop = None

    async def _serve(self, ready: threading.Event) -> None:
        stopping = self._stopping = asyncio.Event()
        ready.set()
        while not stopping.is_set():
            self._tick()
            await sleep_unless(stopping, self.heartbeat_s, self.model.sleep)
        for task in self._jobs:
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        self._unplug()

    def _tick(self) -> None:
        self.model.check_watchdog()
        self._send(frame("*", "HB", self.model.tick_heartbeat()))
        self._report_state()

    def _report_state(self) -> None:
        state = self.model.state
        if state != self._state:
            self._state = state
            self._send(frame("*", "STATE", state, self.model.status_word()))

    def _replug(self) -> None:
        self._unplug()
        master = self._pty.replug()
        asyncio.get_running_loop().add_reader(master, self._on_readable)

    def _unplug(self) -> None:
        if (fds := self._pty.fds) is not None:
            asyncio.get_running_loop().remove_reader(fds[0])
        self._pty.unplug()
        self._buffer = b""

    def _send(self, data: bytes) -> None:
        if (fds := self._pty.fds) is None or self.model.faults.silent:
            return
        with contextlib.suppress(OSError):  # the pty is full: nobody reads, the bytes are lost
            os.write(fds[0], data)

    # -- the protocol --------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if (fds := self._pty.fds) is None:
            return
        try:
            data = os.read(fds[0], 4096)
        except OSError:
            return
        *lines, rest = (self._buffer + data).split(b"\n")
        self._buffer = rest if len(rest) <= _MAX_LINE + 1 else b""  # an endless line: dropped
        for line in lines:
            if not self.model.faults.silent and len(line) <= _MAX_LINE + 1:
                self._on_request(parse_request(line.removesuffix(b"\r")))
        self._report_state()

    def _on_request(self, request: HostRequest) -> None:
        seq = request.seq
        if request.head == "*":
            if request.verb == "HB" and not request.error:
                self.model.host_heartbeat(request.args[0])
            return
        if seq is None:  # nobody to answer
            return
        if request.error:
            self._reply(seq, "NAK", request.error)
        elif self.corrupt_requests > 0:
            self.corrupt_requests -= 1
            self._reply(seq, "NAK", NAK_BAD_CHECKSUM)
        elif request.verb == "STATUS":
            self._reply(seq, "STATUS", *self._status())
        elif seq in self._replies:
            self._repeat(seq, request)
        else:
            self._execute(seq, request)

    def _status(self) -> tuple[int, ...]:
        m = self.model
        last_seq = next(reversed(self._replies), 0)
        counters = (m.packs_stored, m.packs_rejected, m.packs_quarantined)
        job = m.last_job
        done = (job.result, job.location, job.token) if job else (0, 0, 0)
        jobs = (m.job_ack_seq, m.acked_token, m.job_done_seq, *done)
        return (m.state, m.status_word(), m.fault_code, last_seq, *counters, *jobs)

    def _repeat(self, seq: int, request: HostRequest) -> None:
        known, replies = self._replies[seq]
        if (known.verb, known.args) != (request.verb, request.args):
            self._reply(seq, "NAK", NAK_SEQ_REUSED)
            return
        for reply in replies:
            self._transmit(reply)

    def _execute(self, seq: int, request: HostRequest) -> None:
        self._replies[seq] = (request, [])
        while len(self._replies) > _MEMORY:
            self._replies.popitem(last=False)
        verb, args = request.verb, request.args
        if verb == "CMD":
            ok = self.model.command(seq, args[0])
        elif verb == "ACK":
            ok = self.model.ack_fault(args[0])
        else:
            self._remember(seq, "ACK")
            task = asyncio.get_running_loop().create_task(self._job(seq, verb, args))
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)
            return
        if ok:
            self._remember(seq, "ACK")
        else:
            self._remember(seq, "NAK", NAK_NOT_ALLOWED)

    async def _job(self, seq: int, verb: str, args: tuple[int, ...]) -> None:
        code = _JOBS[verb]
        if code == JobCode.RETRIEVE_TO_QUARANTINE:
            record = await self.model.run_job(seq, code, 0, args[1], location=args[0])
        else:
            reason = args[1] if len(args) > 1 else 0
            record = await self.model.run_job(seq, code, reason, args[0])
        lost = self.model.consume_lost_reply()
        if record.result == JobResult.FAILED:
            self._remember(seq, "ERR", record.fault, lost=lost)
        else:
            self._remember(seq, "DONE", record.result, record.location, lost=lost)
        self._report_state()

    def _remember(self, seq: int, verb: str, *args: int, lost: bool = False) -> None:
        """Answer a request and keep the answer for a repeat; `lost`: keep it only."""
        if seq in self._replies:  # else forgotten meanwhile (the memory is bounded)
            self._replies[seq][1].append(frame(seq, verb, *args))
        if not lost:
            self._reply(seq, verb, *args)

    def _reply(self, seq: int, verb: str, *args: int) -> None:
        self._transmit(frame(seq, verb, *args))

    def _transmit(self, reply: bytes) -> None:
        """Send a reply, with a wrong checksum if asked to."""
        if self.corrupt_replies > 0:
            self.corrupt_replies -= 1
            wrong = b"0" if reply[-3:-2] != b"0" else b"1"  # the checksum's last digit
            reply = reply[:-3] + wrong + b"\r\n"
        self._send(reply)


def serve_serial_robot(
    link_dir: Path | None = None,
    timings: Timings | None = None,
    *,
    faults: RobotFaults | None = None,
    announce: Callable[[Path], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve a serial robot until `stop` is set (or Ctrl-C); `announce` gets its port."""
    stop = stop or threading.Event()
    model = RobotModel(timings=timings, faults=faults)
    with SerialRobotSimulator(model, link_dir=link_dir) as robot:
        announce(robot.port)
        while not stop.wait(timeout=0.2):  # woken now and then, so Ctrl-C is handled at once
            pass

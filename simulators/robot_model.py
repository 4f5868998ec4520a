"""The dispensing robot's mechanics, shared by the Modbus PLC and the serial-line simulators.

A simulator is an independent peer implementing the wire spec, so the numbers of ARCHITECTURE.md's
register map are defined here again rather than imported from `robot_controller`.

Choices the register map leaves open:
- an e-stop is fault code 1 (`FaultCode.ESTOP`);
- `moves` counts completed physical moves (onto a shelf or into a chute); a pack left in the
  gripper by an e-stop or a full chute has not moved;
- the reject chute and the quarantine chute are separate: `chute_full` only blocks the reject chute;
- the host watchdog is armed by a host heartbeat other than 0, so a robot nobody drives never
  trips; a host heartbeat of 0 is a host leaving: the watchdog is disarmed until one beats again;
- a latched fault (e-stop, jam, chute full, watchdog) blocks jobs and the commands that resume
  production (Start, Unhold, Unsuspend) until it is acknowledged; a Reset (from Stopped or
  Completed) acknowledges the latched fault itself, and is refused only while its cause remains;
- a watchdog fault's cause is gone once a host heartbeats again;
- the feed: "auto" (a conveyor: a pack waits at the transfer point whenever the robot is idle in
  Execute) or "manual" (`present_pack()` puts one there; a job takes it); a place or divert with
  no pack at the transfer point fails with fault 300 (no pack detected), not latched, moving
  nothing; a retrieve with nothing at the location fails alike;
- an unlatched fault code (300, 400) stands until acknowledged or the next job is taken.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Literal

U16 = 0xFFFF
U32 = 0xFFFF_FFFF

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Feed = Literal["auto", "manual"]


async def sleep_unless(event: asyncio.Event, seconds: float, sleep: Sleep) -> bool:
    """Wait `seconds` with `sleep`, or until `event` is set; True when it was."""
    if event.is_set() or seconds <= 0:
        return event.is_set()
    waiting = asyncio.ensure_future(event.wait())
    sleeping = asyncio.ensure_future(sleep(seconds))
    try:
        await asyncio.wait((waiting, sleeping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        sleeping.cancel()
    return event.is_set()


class PackMLState(IntEnum):
    """PackML states, PackTags `StateCurrent` numbering."""

    UNDEFINED = 0
    CLEARING = 1
    STOPPED = 2
    STARTING = 3
    IDLE = 4
    SUSPENDED = 5
    EXECUTE = 6
    STOPPING = 7
    ABORTING = 8
    ABORTED = 9
    HOLDING = 10
    HELD = 11
    UNHOLDING = 12
    SUSPENDING = 13
    UNSUSPENDING = 14
    RESETTING = 15
    COMPLETING = 16
    COMPLETED = 17


class PackMLCommand(IntEnum):
    NONE = 0
    RESET = 1
    START = 2
    STOP = 3
    HOLD = 4
    UNHOLD = 5
    SUSPEND = 6
    UNSUSPEND = 7
    ABORT = 8
    CLEAR = 9


class JobCode(IntEnum):
    NOP = 0
    PLACE_ON_SHELF = 1
    DIVERT_TO_REJECT = 2
    DIVERT_TO_QUARANTINE = 3
    RETRIEVE_TO_QUARANTINE = 4


class JobReason(IntEnum):
    NONE = 0
    FMD_ALERT = 1
    EXPIRED = 2
    UNKNOWN_PRODUCT = 3
    UNREADABLE = 4
    HUB_UNAVAILABLE = 5
    OPERATOR = 6


class JobResult(IntEnum):
    NONE = 0
    STORED = 1
    REJECTED = 2
    QUARANTINED = 3
    RETRIEVED = 4
    REFUSED_NOT_READY = 10
    REFUSED_BAD_COMMAND = 11
    FAILED = 20


class FaultCode(IntEnum):
    NONE = 0
    ESTOP = 1
    GRIPPER = 100
    CONVEYOR_JAM = 200
    NO_PACK = 300
    MEASUREMENT = 310
    NO_SHELF_SPACE = 400
    REJECT_CHUTE_FULL = 500
    HOST_WATCHDOG = 900


class StatusBit(IntFlag):
    """The status word (register 4)."""

    READY = 1 << 0
    BUSY = 1 << 1
    DONE = 1 << 2
    ERROR = 1 << 3
    FAULT = 1 << 4
    PACK_AT_TRANSFER = 1 << 5
    REJECT_CHUTE_FULL = 1 << 6
    NO_SHELF_SPACE = 1 << 7
    SAFETY_OK = 1 << 8
    REMOTE = 1 << 9
    HOST_WATCHDOG = 1 << 10


IF_VERSION = 0x0200
UNIT_MODE_PRODUCTION = 1

_S = PackMLState
_C = PackMLCommand
_RUNNING = frozenset(
    {
        _S.IDLE,
        _S.STARTING,
        _S.EXECUTE,
        _S.SUSPENDING,
        _S.SUSPENDED,
        _S.UNSUSPENDING,
        _S.HOLDING,
        _S.HELD,
        _S.UNHOLDING,
        _S.RESETTING,
        _S.COMPLETING,
        _S.COMPLETED,
    }
)
# command → (states it is allowed from, acting state, end state)
_COMMANDS: dict[PackMLCommand, tuple[frozenset[PackMLState], PackMLState, PackMLState]] = {
    _C.RESET: (frozenset({_S.STOPPED, _S.COMPLETED}), _S.RESETTING, _S.IDLE),
    _C.START: (frozenset({_S.IDLE}), _S.STARTING, _S.EXECUTE),
    _C.STOP: (_RUNNING, _S.STOPPING, _S.STOPPED),
    _C.HOLD: (frozenset({_S.EXECUTE}), _S.HOLDING, _S.HELD),
    _C.UNHOLD: (frozenset({_S.HELD}), _S.UNHOLDING, _S.EXECUTE),
    _C.SUSPEND: (frozenset({_S.EXECUTE}), _S.SUSPENDING, _S.SUSPENDED),
    _C.UNSUSPEND: (frozenset({_S.SUSPENDED}), _S.UNSUSPENDING, _S.EXECUTE),
    _C.ABORT: (frozenset(_S) - {_S.ABORTING, _S.ABORTED}, _S.ABORTING, _S.ABORTED),
    _C.CLEAR: (frozenset({_S.ABORTED}), _S.CLEARING, _S.STOPPED),
}
_HOLDABLE = frozenset(
    {_S.STARTING, _S.EXECUTE, _S.SUSPENDING, _S.SUSPENDED, _S.UNSUSPENDING, _S.UNHOLDING}
)
_RESUMING = frozenset({_C.START, _C.UNHOLD, _C.UNSUSPEND})
_REFUSED = frozenset({JobResult.REFUSED_NOT_READY, JobResult.REFUSED_BAD_COMMAND})


@dataclass
class Timings:
    """Mechanical time per job, and per PackML acting state."""

    move_s: float = 0.0
    transition_s: float = 0.0


@dataclass
class RobotFaults:
    """Faults a test (or the operator of a standalone simulator) switches on."""

    jam: bool = False  # next job: FAILED, fault 200, → HELD; the pack goes to the reject chute
    chute_full: bool = False  # bit 6; a reject divert fails (FAILED, fault 500), → HELD
    no_shelf_space: bool = False  # bit 7; a place ends REJECTED (pack to the chute), fault 400
    estop_during_job: bool = False  # next job: → ABORTED mid-job, FAILED, fault 1
    silent: bool = False  # the link stops answering (the transports honour this)
    lose_next_reply: bool = False  # the next job runs but its reply is lost once (transports)
    watchdog_s: float = 2.0  # host heartbeat unchanged this long → trip, fault 900, → HELD
    heartbeat_frozen: bool = False  # the robot's own heartbeat stops (a hung controller)


@dataclass(frozen=True)
class JobRecord:
    seq: int
    code: int
    reason: int
    token: int
    result: int
    location: int
    fault: int


class RobotModel:
    """One robot: PackML state, a shelf of numbered locations, two chutes, faults, heartbeats.

    Jobs run in the event loop (`run_job` sleeps `Timings.move_s`); everything else is
    synchronous, so a transport can read a consistent picture between two awaits. `clock` and
    `sleep` are the model's time (a test passes a manual clock); transports pace their own
    periodic work with `sleep` too.
    """

    def __init__(
        self,
        *,
        capacity: int = 10_000,
        timings: Timings | None = None,
        faults: RobotFaults | None = None,
        state: int = PackMLState.EXECUTE,
        feed: Feed = "auto",
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.capacity = capacity
        self.feed = feed
        self.timings = timings or Timings()
        self.faults = faults or RobotFaults()
        self._clock = clock
        self.sleep = sleep
        self._state = PackMLState(state)
        self._acting: tuple[float, PackMLState] | None = None  # (ends at, end state)
        self.fault_code = 0
        self.fault_active = False
        self.watchdog_tripped = False
        self.shelf: dict[int, int] = {}
        self.moves: collections.Counter[int] = collections.Counter()
        self.packs_stored = 0
        self.packs_rejected = 0
        self.packs_quarantined = 0
        self.job_ack_seq = 0
        self.acked_token = 0  # the token of the job `job_ack_seq` names
        self.job_done_seq = 0
        self.last_job: JobRecord | None = None
        self.busy = False
        self._pack_waiting = False  # a pack at the transfer point (manual feed), or in a job
        self.command_ack_seq = 0
        self.command_rejected = False
        self.heartbeat = 0
        self._next_location = 1
        self._freed: list[int] = []
        self._inflight: asyncio.Future[JobRecord] | None = None
        self._interrupt: asyncio.Event | None = None
        self._host_heartbeat: int | None = None
        self._host_heartbeat_at = 0.0

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> int:
        if self._acting is not None and self._clock() >= self._acting[0]:
            self._state = self._acting[1]
            self._acting = None
        return self._state

    @state.setter
    def state(self, value: int) -> None:
        self._state = PackMLState(value)
        self._acting = None

    def _go(self, acting: PackMLState, end: PackMLState) -> None:
        if self.timings.transition_s <= 0:
            self.state = end
        else:
            self._state = acting
            self._acting = (self._clock() + self.timings.transition_s, end)

    @property
    def ready(self) -> bool:
        return self.state == PackMLState.EXECUTE and not self.busy and not self.fault_active

    def status_word(self) -> int:
        bits = StatusBit.REMOTE
        flags = {
            StatusBit.READY: self.ready,
            StatusBit.BUSY: self.busy,
            StatusBit.DONE: not self.busy and self.last_job is not None,
            StatusBit.ERROR: self.last_job is not None and self.last_job.result in _FAILURES,
            StatusBit.FAULT: self.fault_active,
            StatusBit.PACK_AT_TRANSFER: self.pack_at_transfer,
            StatusBit.REJECT_CHUTE_FULL: self.faults.chute_full,
            StatusBit.NO_SHELF_SPACE: self._shelf_full(),
            StatusBit.SAFETY_OK: not (self.fault_active and self.fault_code == FaultCode.ESTOP),
            StatusBit.HOST_WATCHDOG: self.watchdog_tripped,
        }
        for bit, on in flags.items():
            if on:
                bits |= bit
        return int(bits)

    @property
    def pack_at_transfer(self) -> bool:
        """A pack waits at the transfer point (or is being moved by the running job)."""
        fed = self.feed == "auto" and not self.busy and self.state == PackMLState.EXECUTE
        return self._pack_waiting or fed

    def present_pack(self) -> None:
        """Manual feed: put a pack on the transfer point."""
        self._pack_waiting = True

    def _shelf_full(self) -> bool:
        return self.faults.no_shelf_space or len(self.shelf) >= self.capacity

    # -- jobs -------------------------------------------------------------------------------

    async def run_job(
        self, seq: int, code: int, reason: int, token: int, location: int = 0
    ) -> JobRecord:
        """Run one job. A seq equal to `job_ack_seq` is a retry: it returns the job's record
        (waiting for it if it is still running) and moves nothing. A new seq while busy is
        ignored (a REFUSED_NOT_READY record that is not stored)."""
        if seq == self.job_ack_seq and seq != 0:
            if self._inflight is not None:
                return await asyncio.shield(self._inflight)
            if self.last_job is not None:
                return self.last_job
        if self.busy:
            return JobRecord(seq, code, reason, token, JobResult.REFUSED_NOT_READY, 0, 0)
        refusal = self._refusal(seq, code, reason, token, location)
        self.job_ack_seq, self.acked_token = seq & U16, token
        if refusal is not None:
            return self._finish(JobRecord(seq, code, reason, token, refusal, 0, 0))
        if not self.fault_active:
            self.fault_code = 0  # an unlatched fault of an earlier job is history now
        job = JobRecord(seq, code, reason, token, 0, location, 0)
        if code != JobCode.RETRIEVE_TO_QUARANTINE:
            if not self.pack_at_transfer:  # nothing to take: nothing moves
                self.fault_code = FaultCode.NO_PACK
                return self._finish(_with(job, JobResult.FAILED, fault=FaultCode.NO_PACK))
            self._pack_waiting = True  # the job's pack, taken from the transfer point
        self.busy = True
        inflight = self._inflight = asyncio.get_running_loop().create_future()
        self._interrupt = asyncio.Event()
        try:
            record = self._finish(await self._move(job))
        except BaseException:
            inflight.cancel()  # the simulator is stopping: a waiting retry must not hang
            raise
        else:
            inflight.set_result(record)
        finally:
            self.busy = False
            self._interrupt = None
            self._inflight = None
        return record

    def consume_lost_reply(self) -> bool:
        """For transports: True once after `faults.lose_next_reply` was set."""
        lost = self.faults.lose_next_reply
        self.faults.lose_next_reply = False
        return lost

    def _refusal(self, seq: int, code: int, reason: int, token: int, location: int) -> int | None:
        valid = (
            1 <= seq <= U16
            and code in _JOB_CODES
            and reason in _JOB_REASONS
            and 0 <= token <= U32
            and 0 <= location <= U32
            and (code != JobCode.RETRIEVE_TO_QUARANTINE or location >= 1)
        )
        if not valid:
            return JobResult.REFUSED_BAD_COMMAND
        if not self.ready:
            return JobResult.REFUSED_NOT_READY
        return None

    def _finish(self, record: JobRecord) -> JobRecord:
        """Publish a finished job: the record first, the done seq last (as a PLC writes them)."""
        self.last_job = record
        self.job_done_seq = record.seq & U16
        return record

    async def _move(self, job: JobRecord) -> JobRecord:
        faults = self.faults
        if faults.estop_during_job:
            faults.estop_during_job = False
            await self._mechanics(self.timings.move_s / 2)
            self._latch(FaultCode.ESTOP)
            self._go(PackMLState.ABORTING, PackMLState.ABORTED)
            return _with(job, JobResult.FAILED, fault=FaultCode.ESTOP)  # left in the gripper
        if await self._mechanics(self.timings.move_s):  # the host watchdog tripped meanwhile
            return self._to_reject_chute(job, JobResult.FAILED, FaultCode.HOST_WATCHDOG)
        if faults.jam:
            faults.jam = False
            self._latch(FaultCode.CONVEYOR_JAM)
            self._hold()
            return self._to_reject_chute(job, JobResult.FAILED, FaultCode.CONVEYOR_JAM)
        if job.code == JobCode.PLACE_ON_SHELF:
            if self._shelf_full():
                self.fault_code = FaultCode.NO_SHELF_SPACE
                return self._to_reject_chute(job, JobResult.REJECTED, FaultCode.NO_SHELF_SPACE)
            location = self._free_location()
            self.shelf[location] = job.token
            self.packs_stored += 1
            return self._moved(job, job.token, JobResult.STORED, location)
        if job.code == JobCode.DIVERT_TO_REJECT:
            return self._to_reject_chute(job, JobResult.REJECTED, FaultCode.NONE)
        if job.code == JobCode.DIVERT_TO_QUARANTINE:
            self.packs_quarantined += 1
            return self._moved(job, job.token, JobResult.QUARANTINED, 0)
        return self._retrieve(job)

    def _retrieve(self, job: JobRecord) -> JobRecord:
        token = self.shelf.pop(job.location, None) if job.location else None
        if token is None:
            self.fault_code = FaultCode.NO_PACK
            return _with(job, JobResult.FAILED, fault=FaultCode.NO_PACK)
        heapq.heappush(self._freed, job.location)
        self.packs_quarantined += 1
        return self._moved(job, token, JobResult.RETRIEVED, job.location)

    def _to_reject_chute(self, job: JobRecord, result: int, fault: int) -> JobRecord:
        if self.faults.chute_full:
            self._latch(FaultCode.REJECT_CHUTE_FULL)
            self._hold()
            return _with(job, JobResult.FAILED, fault=FaultCode.REJECT_CHUTE_FULL)
        self.packs_rejected += 1
        return self._moved(job, job.token, result, 0, fault)

    def _moved(
        self, job: JobRecord, token: int, result: int, location: int, fault: int = 0
    ) -> JobRecord:
        self.moves[token] += 1
        if job.code != JobCode.RETRIEVE_TO_QUARANTINE:
            self._pack_waiting = False
        return _with(job, result, location=location, fault=fault)

    def _free_location(self) -> int:
        if self._freed:
            return heapq.heappop(self._freed)
        location = self._next_location
        self._next_location += 1
        return location

    async def _mechanics(self, seconds: float) -> bool:
        """Let mechanical time pass; True when the host watchdog tripped meanwhile."""
        interrupt = self._interrupt
        if interrupt is None:
            raise RuntimeError("the robot model's mechanics run only while it is started")
        return await sleep_unless(interrupt, seconds, self.sleep)

    # -- faults and commands ----------------------------------------------------------------

    def _latch(self, fault: FaultCode) -> None:
        self.fault_code = fault
        self.fault_active = True

    def _hold(self) -> None:
        if self.state in _HOLDABLE:
            self._go(PackMLState.HOLDING, PackMLState.HELD)

    def _cause_gone(self, code: int) -> bool:
        if code == FaultCode.REJECT_CHUTE_FULL:
            return not self.faults.chute_full
        if code == FaultCode.NO_SHELF_SPACE:
            return not self._shelf_full()
        if code == FaultCode.HOST_WATCHDOG:
            return not self._host_stale()
        return True

    def ack_fault(self, code: int) -> bool:
        """Clear the fault if `code` is the current one and its cause is gone. The machine
        stays Held / Aborted until the operator's commands."""
        if code == 0 or code != self.fault_code or not self._cause_gone(code):
            return False
        self._clear_fault()
        return True

    def _clear_fault(self) -> None:
        if self.fault_code == FaultCode.HOST_WATCHDOG:
            self.watchdog_tripped = False
        self.fault_code = 0
        self.fault_active = False

    def command(self, seq: int, command: int) -> bool:
        """A PackML command with its own seq; a repeated seq answers as before."""
        if seq == self.command_ack_seq and seq != 0:
            return not self.command_rejected
        self.command_ack_seq = seq & U16
        allowed = self._allowed(command)
        self.command_rejected = not allowed
        if allowed:
            cmd = PackMLCommand(command)
            if cmd == _C.RESET and self.fault_active:
                self._clear_fault()  # its cause is gone (else the Reset was refused)
            _, acting, end = _COMMANDS[cmd]
            self._go(acting, end)
        return allowed

    def _allowed(self, command: int) -> bool:
        if command not in _COMMANDS:
            return False
        cmd = PackMLCommand(command)
        if cmd in _RESUMING and self.fault_active:
            return False
        if cmd == _C.RESET and self.fault_active and not self._cause_gone(self.fault_code):
            return False
        return self.state in _COMMANDS[cmd][0]

    # -- heartbeats -------------------------------------------------------------------------

    def host_heartbeat(self, value: int) -> None:
        """Record the host's heartbeat register: a change arms the watchdog, 0 (a host leaving)
        disarms it until a host beats again."""
        if value == 0:
            self._host_heartbeat = None
        elif value != self._host_heartbeat:
            self._host_heartbeat = value
            self._host_heartbeat_at = self._clock()

    @property
    def watchdog_armed(self) -> bool:
        """A host heartbeats (and has not said it left)."""
        return self._host_heartbeat is not None

    def _host_stale(self) -> bool:
        if self._host_heartbeat is None or self.faults.watchdog_s <= 0:
            return False
        return self._clock() - self._host_heartbeat_at > self.faults.watchdog_s

    def check_watchdog(self) -> bool:
        """Call periodically. True when the host watchdog tripped now: fault 900, → Held, and
        a pack at the transfer point goes to the reject chute."""
        if self.watchdog_tripped or not self._host_stale():
            return False
        self.watchdog_tripped = True
        self._latch(FaultCode.HOST_WATCHDOG)
        self._hold()
        if self._interrupt is not None:
            self._interrupt.set()  # the running job ends with the pack in the reject chute
        elif self._pack_waiting and not self.faults.chute_full:
            self._pack_waiting = False
            self.packs_rejected += 1
        return True

    def tick_heartbeat(self) -> int:
        """Advance the robot's own heartbeat (wraps 65535 → 0), unless it is frozen."""
        if not self.faults.heartbeat_frozen:
            self.heartbeat = (self.heartbeat + 1) & U16
        return self.heartbeat


_FAILURES = _REFUSED | {JobResult.FAILED}
_JOB_CODES = frozenset(int(code) for code in JobCode) - {JobCode.NOP}
_JOB_REASONS = frozenset(int(reason) for reason in JobReason)


def _with(job: JobRecord, result: int, *, location: int = 0, fault: int = 0) -> JobRecord:
    return JobRecord(job.seq, job.code, job.reason, job.token, result, location, fault)

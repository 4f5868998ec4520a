"""The Modbus register map's codec: a job to the command block's words, the status block's
words to a typed status (refusing one that cannot be true), and the pure handshake rules.
No I/O: the driver (`modbus`) and the tests use it."""

from __future__ import annotations

from collections.abc import Sequence

from robot_controller.robot.base import (
    Job,
    JobResult,
    PackMLState,
    RobotError,
    RobotStatus,
    StatusFlags,
)
from robot_controller.robot.registers import (
    JOB_COUNT,
    JOB_START,
    STATUS_COUNT,
    STATUS_START,
    Register,
)

U16 = 0xFFFF
U32 = 0xFFFF_FFFF

ACTING = frozenset(
    {
        PackMLState.CLEARING,
        PackMLState.STARTING,
        PackMLState.STOPPING,
        PackMLState.ABORTING,
        PackMLState.HOLDING,
        PackMLState.UNHOLDING,
        PackMLState.SUSPENDING,
        PackMLState.UNSUSPENDING,
        PackMLState.RESETTING,
        PackMLState.COMPLETING,
    }
)
_KNOWN_BITS = sum(int(flag) for flag in StatusFlags)
_STATES = frozenset(PackMLState)
_RESULTS = frozenset(JobResult)


def encode_job(job: Job, seq: int) -> list[int]:
    """The job registers (`JOB_START`, `JOB_COUNT` of them) for one job."""
    location = job.location or 0
    if not 0 <= job.token <= U32 or not 0 <= location <= U32 or not 1 <= seq <= U16:
        raise RobotError(f"job for token {job.token} does not fit the register map")
    return block(
        JOB_START,
        JOB_COUNT,
        {
            Register.JOB_CODE: [int(job.code)],
            Register.JOB_REASON: [int(job.reason)],
            Register.JOB_TOKEN: _split(job.token),
            Register.JOB_SEQ: [seq],
            Register.JOB_LOCATION: _split(location),
        },
    )


def decode_status(registers: Sequence[int], *, packs_quarantined: int = 0) -> RobotStatus:
    """The status block as a typed status; RobotError when it cannot be true."""
    if len(registers) != STATUS_COUNT:
        raise RobotError(f"impossible status: {len(registers)} registers, not {STATUS_COUNT}")
    r = dict(enumerate(registers, STATUS_START))
    state, word, result = r[Register.STATE], r[Register.STATUS_WORD], r[Register.JOB_RESULT]
    ack, done = r[Register.JOB_ACK_SEQ], r[Register.JOB_DONE_SEQ]
    rejected = r[Register.CMD_REJECTED]
    problems = []
    if state not in _STATES:
        problems.append(f"unknown PackML state {state}")
    if result != 0 and result not in _RESULTS:
        problems.append(f"unknown job result {result}")
    flags = StatusFlags(word & _KNOWN_BITS)
    if word & ~_KNOWN_BITS:
        problems.append(f"undefined status bits {word & ~_KNOWN_BITS:#06x}")
    if StatusFlags.READY in flags and StatusFlags.BUSY in flags:
        problems.append("ready and busy at once")
    if _ahead(done=done, ack=ack):
        problems.append(f"job done seq {done} ahead of ack seq {ack}")
    if rejected not in (0, 1):
        problems.append(f"command rejected flag {rejected}")
    if problems:
        raise RobotError("impossible status from the robot: " + "; ".join(problems))
    return RobotStatus(
        state=PackMLState(state),
        ready=StatusFlags.READY in flags,
        fault=r[Register.FAULT_CODE] or None,
        packs_stored=_u32(r, Register.PACKS_STORED),
        packs_rejected=r[Register.PACKS_REJECTED],
        packs_quarantined=packs_quarantined,
        flags=flags,
        heartbeat=r[Register.HEARTBEAT],
        job_ack_seq=ack,
        job_done_seq=done,
        job_result=JobResult(result) if result else None,
        location=_u32(r, Register.LOCATION) or None,
        command_ack_seq=r[Register.CMD_ACK_SEQ],
        command_rejected=bool(rejected),
        unit_mode=r[Register.UNIT_MODE],
        interface_version=r[Register.IF_VERSION],
        acked_token=_u32(r, Register.ACKED_TOKEN) or None,
        done_token=_u32(r, Register.DONE_TOKEN) or None,
    )


def settling(status: RobotStatus) -> bool:
    """A job or a PackML transition is still under way."""
    return (
        status.job_ack_seq != status.job_done_seq
        or StatusFlags.BUSY in status.flags
        or status.state in ACTING
    )


def _ahead(*, done: int, ack: int) -> bool:
    return done not in (0, ack) and (done - ack) % (U16 + 1) < 0x8000


def _split(value: int) -> list[int]:
    return [value >> 16, value & U16]


def _u32(registers: dict[int, int], address: Register) -> int:
    """The u32 at `address` (high word first)."""
    return (registers[address] << 16) | registers[address + 1]


def block(start: int, count: int, fields: dict[Register, list[int]]) -> list[int]:
    """`count` registers from `start`, each field's words at its address, the rest 0."""
    words = [0] * count
    for address, values in fields.items():
        offset = address - start
        words[offset : offset + len(values)] = values
    return words

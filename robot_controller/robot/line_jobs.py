"""Robot jobs, their outcomes and the robot's status ↔ line-protocol frames. Pure: the serial
driver (`serial`) and the tests use it."""

from __future__ import annotations

from robot_controller.robot.base import (
    Job,
    JobCode,
    JobOutcome,
    JobResult,
    PackMLState,
    RobotError,
    RobotStatus,
    StatusFlags,
    fault_name,
)
from robot_controller.robot.line_protocol import (
    Done,
    Err,
    Nak,
    NakCode,
    Place,
    Quarantine,
    Reject,
    Reply,
    Request,
    Retrieve,
    StatusReply,
)

_KNOWN_FLAGS = StatusFlags(sum(StatusFlags))


def request_for(job: Job, seq: int) -> Request:
    """The frame that asks the robot to do `job`."""
    if job.code is JobCode.PLACE_ON_SHELF:
        return Place(seq, job.token)
    if job.code is JobCode.DIVERT_TO_REJECT:
        return Reject(seq, job.token, job.reason)
    if job.code is JobCode.DIVERT_TO_QUARANTINE:
        return Quarantine(seq, job.token, job.reason)
    return Retrieve(seq, job.location or 0, job.token)


def outcome_of(reply: Reply) -> JobOutcome:
    """What a job's last reply says the robot did; RobotError when that is unclear."""
    if isinstance(reply, Done):
        if reply.result not in JobResult.__members__.values():
            raise RobotError(f"robot reported an unknown job result {reply.result}")
        if reply.result == JobResult.STORED and not reply.location:
            raise RobotError("robot stored the pack without saying where")
        return JobOutcome(JobResult(reply.result), reply.location or None)
    if isinstance(reply, Err):
        if not reply.fault:
            raise RobotError("robot reported a failed job without a fault code")
        message = f"robot fault {fault_name(reply.fault)}"
        return JobOutcome(JobResult.FAILED, fault=reply.fault, message=message)
    if isinstance(reply, Nak):
        refusal = NakCode(reply.code).name if reply.code in NakCode.__members__.values() else "?"
        message = f"robot did not take the job: NAK {reply.code} ({refusal})"
        return JobOutcome(JobResult.REFUSED_BAD_COMMAND, message=message)
    raise RobotError(f"robot answered a job with {type(reply).__name__}")


def status_of(reply: StatusReply, heartbeat: int) -> RobotStatus:
    """A STATUS reply as a typed status; RobotError when it cannot be true."""
    if reply.state not in PackMLState.__members__.values():
        raise RobotError(f"robot reported an unknown PackML state {reply.state}")
    if reply.status_word & ~_KNOWN_FLAGS:
        raise RobotError(f"robot reported undefined status bits {reply.status_word:#06x}")
    if reply.result and reply.result not in JobResult.__members__.values():
        raise RobotError(f"robot reported an unknown job result {reply.result}")
    flags = StatusFlags(reply.status_word)
    return RobotStatus(
        state=PackMLState(reply.state),
        ready=StatusFlags.READY in flags,
        fault=reply.fault or None,
        packs_stored=reply.stored,
        packs_rejected=reply.rejected,
        packs_quarantined=reply.quarantined,
        flags=flags,
        heartbeat=heartbeat,
        job_ack_seq=reply.ack_seq,
        job_done_seq=reply.done_seq,
        job_result=JobResult(reply.result) if reply.result else None,
        location=reply.location or None,
        acked_token=reply.acked_token or None,
        done_token=reply.done_token or None,
    )

"""An in-process robot with a shelf model: the `sim` driver, for demos, tests and benchmarks."""

from __future__ import annotations

import asyncio
from collections import Counter

from robot_controller.robot.base import (
    FaultCode,
    Job,
    JobCode,
    JobOutcome,
    JobResult,
    MachineCommand,
    PackMLState,
    RobotStatus,
    StatusFlags,
)

_ALWAYS = StatusFlags.SAFETY_OK | StatusFlags.REMOTE | StatusFlags.PACK_AT_TRANSFER


class SimRobot:
    """Shelves packs into numbered locations until full; diverts to the reject or quarantine chute.

    `moves` counts every physical move per pack token, so tests can prove none moved twice.
    """

    def __init__(self, *, capacity: int = 100_000, move_time_s: float = 0.0) -> None:
        self.capacity = capacity
        self.move_time_s = move_time_s
        self.shelf: dict[int, int] = {}  # location -> token
        self.moves: Counter[int] = Counter()
        self.state = PackMLState.EXECUTE
        self._counts: Counter[JobResult] = Counter()
        self._next_location = 1

    async def connect(self) -> None:
        """Nothing to reach: the model is in this process."""

    async def status(self) -> RobotStatus:
        """A pack always waits at the transfer point (the model is fed as fast as it works)."""
        ready = self.state is PackMLState.EXECUTE
        flags = _ALWAYS | (StatusFlags.READY if ready else StatusFlags.NONE)
        if len(self.shelf) >= self.capacity:
            flags |= StatusFlags.NO_SHELF_SPACE
        return RobotStatus(
            state=self.state,
            ready=ready,
            flags=flags,
            fault=None,
            packs_stored=self._counts[JobResult.STORED],
            packs_rejected=self._counts[JobResult.REJECTED],
            packs_quarantined=self._counts[JobResult.QUARANTINED],
        )

    async def execute(self, job: Job) -> JobOutcome:
        if self.state is not PackMLState.EXECUTE:
            return JobOutcome(JobResult.REFUSED_NOT_READY, message=f"robot is {self.state.name}")
        if self.move_time_s:
            await asyncio.sleep(self.move_time_s)
        outcome = self._move(job)
        self.moves[job.token] += 1
        self._counts[outcome.result] += 1
        return outcome

    def _move(self, job: Job) -> JobOutcome:
        if job.code is JobCode.PLACE_ON_SHELF:
            if len(self.shelf) >= self.capacity:
                return JobOutcome(
                    JobResult.REJECTED, fault=FaultCode.NO_SHELF_SPACE, message="no shelf space"
                )
            location = self._next_location
            self._next_location += 1
            self.shelf[location] = job.token
            return JobOutcome(JobResult.STORED, location=location)
        if job.code is JobCode.DIVERT_TO_REJECT:
            return JobOutcome(JobResult.REJECTED)
        if job.code is JobCode.DIVERT_TO_QUARANTINE:
            return JobOutcome(JobResult.QUARANTINED)
        if job.location is None or job.location not in self.shelf:
            return JobOutcome(JobResult.FAILED, message=f"nothing at location {job.location}")
        del self.shelf[job.location]
        return JobOutcome(JobResult.RETRIEVED, location=job.location)

    async def command(self, command: MachineCommand) -> None:
        transitions = {
            MachineCommand.STOP: PackMLState.STOPPED,
            MachineCommand.RESET: PackMLState.IDLE,
            MachineCommand.START: PackMLState.EXECUTE,
            MachineCommand.HOLD: PackMLState.HELD,
            MachineCommand.UNHOLD: PackMLState.EXECUTE,
            MachineCommand.SUSPEND: PackMLState.SUSPENDED,
            MachineCommand.UNSUSPEND: PackMLState.EXECUTE,
            MachineCommand.ABORT: PackMLState.ABORTED,
            MachineCommand.CLEAR: PackMLState.STOPPED,
        }
        self.state = transitions[command]

    async def ack_fault(self, code: int) -> bool:
        """The model latches no faults: there is never one to clear."""
        return False

    async def aclose(self) -> None:
        return None

"""The robot as the packs in flight share it: one job at a time, asked first whether it can take
the pack; loading pauses while it cannot and resumes by itself once it can; another master on the
robot (or a store that cannot be written) halts loading for good."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

import structlog

from robot_controller.robot.base import (
    Job,
    JobCode,
    JobOutcome,
    JobResult,
    Robot,
    RobotConflict,
    RobotError,
)
from robot_controller.robot.readiness import NotReady, machine_not_ready, not_ready

log = structlog.get_logger("fmd.pipeline")

RESUME_EVERY_S = 0.5


class RobotTurn:
    """The robot's turn: the readiness check, the job, the pause and the halt."""

    def __init__(self, robot: Robot, *, resume_every_s: float = RESUME_EVERY_S) -> None:
        self.robot = robot
        self.resume_every_s = resume_every_s
        self.paused: str | None = None  # why intake waits for the robot
        self.halted: Exception | None = None  # why loading stopped for good
        self.halt = asyncio.Event()
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    async def can_take(self, code: JobCode, *, pack_here: bool = True) -> NotReady | None:
        """None when the robot can take a job of `code` now (a fresh status read); else why
        not. `pack_here`: the pack must be at the transfer point too (False: the machine's
        readiness only, for a pack still on its way). A robot that cannot take packs pauses
        loading."""
        refusal: NotReady | None
        try:
            status = await self.robot.status()
        except RobotError as error:
            refusal = NotReady(f"robot unreachable: {error}: check its power and link")
        else:
            if pack_here:
                refusal = not_ready(status, code)
            else:
                machine = machine_not_ready(status, code)
                refusal = None if machine is None else NotReady(machine)
        if refusal is not None and refusal.pauses:
            self.pause(refusal.message)
        return refusal

    async def execute(self, job: Job) -> JobOutcome | None:
        """One robot job at a time; None when its outcome is unknown. A job the robot refuses
        pauses loading; another master halts it."""
        async with self._lock:
            try:
                outcome = await self.robot.execute(job)
            except RobotConflict as error:
                self.stop(error)
                return None
            except Exception as error:  # noqa: BLE001 - RobotError or a driver's own: unknown
                log.error("robot.error", error=repr(error))
                return None
        if outcome.result is JobResult.REFUSED_NOT_READY:
            self.pause(outcome.message or "the robot refused the job: not ready")
        return outcome

    def pause(self, why: str) -> None:
        """Hold intake back until the robot can take packs again (one warning)."""
        if self.paused is None:
            log.warning(
                "loading.paused",
                reason=why,
                detail="packs go back to the operator unchanged until the robot is ready",
            )
            # a context of its own: the pack that paused loading is not the watcher's
            self._watcher = asyncio.get_running_loop().create_task(
                self._resume_when_ready(), context=contextvars.Context()
            )
        self.paused = why

    def stop(self, error: Exception) -> None:
        """Halt loading (another master, a store that cannot be written): nothing more goes to
        the robot, and the pipeline ends with `error`."""
        if self.halted is None:
            log.error("loading.halted", error=str(error))
            self.halted = error
        self.halt.set()

    async def aclose(self) -> None:
        """Loading is over: stop watching the robot (nothing waits for it any more, so the
        screens no longer say loading is paused)."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        self.paused = None

    async def _resume_when_ready(self) -> None:
        while self.paused is not None:
            await asyncio.sleep(self.resume_every_s)
            try:
                status = await self.robot.status()
            except RobotError:
                continue
            if machine_not_ready(status, JobCode.PLACE_ON_SHELF) is None:
                log.warning("loading.resumed", after=self.paused)
                self.paused = None

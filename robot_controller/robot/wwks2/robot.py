"""The WWKS2 robot driver: a storage robot that scans each pack itself and asks us about it.

It is the `Robot` of the pipeline (status, the retrieve of a suspect pack as an output to the
quarantine destination) and the source of the packs it asks about (`arrivals`): each InputRequest,
with the time it was read, for the stock-in (`robot_controller.pipeline.stock_in`) to answer. A
WWKS2 robot takes no PackML commands and reports no faults to acknowledge: its own terminal does.
Hand-out (`output`), stock (`stock`) and tasks (`task_info`, `task_cancel`) are its requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog

from robot_controller.robot.base import (
    CommandRefused,
    Job,
    JobCode,
    JobOutcome,
    JobResult,
    MachineCommand,
    RobotError,
    RobotStatus,
)
from robot_controller.robot.wwks2.link import (
    BrokenInputRequest,
    LinkSettings,
    OnConnected,
    Wwks2Link,
)
from robot_controller.robot.wwks2.status import robot_status
from wwks2.messages import (
    CancelTask,
    InfoTask,
    InputMessage,
    InputRequest,
    InputResponse,
    Message,
    OutputAccepted,
    OutputCriteria,
    OutputDetails,
    OutputMessage,
    OutputRequest,
    OutputResponse,
    OutputStatus,
    Priority,
    StatusResponse,
    StockCriteria,
    StockInfoMessage,
    StockInfoRequest,
    StockInfoResponse,
    TaskCancelRequest,
    TaskCancelResponse,
    TaskInfoRequest,
    TaskInfoResponse,
    TaskInfoType,
    TaskType,
)

log = structlog.get_logger("fmd.robot.wwks2")

NO_COMMANDS = "a WWKS2 robot takes no PackML commands: use the robot's own terminal"
NOT_ASKED = (
    "a WWKS2 robot takes a pack only as it asks about it: this pack is no longer at its input "
    "(the robot gave it back)"
)


@dataclass(frozen=True, slots=True)
class Wwks2Settings:
    """The link and the robot's timing."""

    link: LinkSettings
    answer_within_s: float = 3.0  # the robot's deadline for an InputResponse
    stored_within_s: float = 120.0  # from our answer to its InputMessage
    output_within_s: float = 300.0  # from an OutputResponse to its OutputMessage
    quarantine_destination: int = 2  # the OutputDestination suspect packs are output to
    status_max_age_s: float = 60.0  # older than this, `status` asks the robot again
    wait_at_start: bool = False  # a robot down at `connect` is waited for (the daemon's choice)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A robot's InputRequest (or what could be read of one), and when it was read (loop time)."""

    request: InputRequest | BrokenInputRequest
    at: float


@dataclass(frozen=True, slots=True)
class Output:
    """An OutputRequest the robot answered: its response and, if queued, its OutputMessage to come
    (None: the robot superseded it)."""

    id: str
    response: OutputResponse
    done: asyncio.Future[OutputMessage | None] = field(compare=False)


class Wwks2Robot:
    """A BD Rowa-style storage robot over WWKS2 (we are the TCP client)."""

    def __init__(self, settings: Wwks2Settings) -> None:
        self.settings = settings
        self.link = Wwks2Link(settings.link, on_message=self._received, on_connected=None)
        self.unsolicited: asyncio.Queue[Message] = asyncio.Queue()
        self._arrivals: asyncio.Queue[Arrival] = asyncio.Queue()
        self.stored = 0
        self.rejected = 0

    @property
    def subscriber(self) -> int:
        return self.settings.link.subscriber

    async def connect(self) -> None:
        """Connect and say Hello; `RobotError` (one line) when the robot does not answer
        (with `wait_at_start`, a warning, and it is tried again in the background)."""
        await self.link.start(wait=self.settings.wait_at_start)

    def when_connected(self, hook: OnConnected | None) -> None:
        """Run `hook` at every connect of the link from now on (None: nothing)."""
        self.link.on_connected = hook

    async def status(self) -> RobotStatus:
        """The robot's last polled status (asked again when older than `status_max_age_s`);
        `RobotError` while the link is down."""
        if not self.link.connected:
            link = self.settings.link
            raise RobotError(f"WWKS2 robot {link.host}:{link.port}: not connected")
        loop_now = self.link.clock()
        age = None if self.link.status_at is None else loop_now - self.link.status_at
        response = self.link.status
        if response is None or age is None or age > self.settings.status_max_age_s:
            response = await self.link.refresh_status()
        return robot_status(response, stored=self.stored, rejected=self.rejected)

    async def report(self) -> StatusResponse:
        """The robot's own last StatusResponse (asked now when there is none yet)."""
        known = self.link.status
        return known if known is not None else await self.link.refresh_status()

    async def execute(self, job: Job) -> JobOutcome:
        """Only a retrieve to quarantine is a job we start (an output of that pack to the
        quarantine destination); a pack to place or divert is answered when the robot asks."""
        if job.code is not JobCode.RETRIEVE_TO_QUARANTINE:
            return JobOutcome(JobResult.REFUSED_BAD_COMMAND, message=NOT_ASKED)
        if not job.location:
            return JobOutcome(
                JobResult.REFUSED_BAD_COMMAND, message="a retrieve needs the robot's pack id"
            )
        output = await self.output(
            (OutputCriteria(1, pack_id=job.location),), self.settings.quarantine_destination
        )
        if output.response.details.status is not OutputAccepted.QUEUED:
            return JobOutcome(
                JobResult.FAILED, message="the robot rejected the output to quarantine"
            )
        message = await self.finished(output)
        left = (
            [pack.id for article in message.articles for pack in article.packs] if message else []
        )
        if (
            message is None
            or message.details.status is not OutputStatus.COMPLETED
            or job.location not in left
        ):
            status = message.details.status.value if message else "no OutputMessage"
            return JobOutcome(JobResult.FAILED, message=f"the output to quarantine ended {status}")
        return JobOutcome(JobResult.RETRIEVED, location=job.location)

    async def command(self, command: MachineCommand) -> None:
        raise CommandRefused(NO_COMMANDS)

    async def ack_fault(self, code: int) -> bool:
        return False

    async def aclose(self) -> None:
        await self.link.aclose()

    # -- stock-in ------------------------------------------------------------------------------

    async def arrivals(self) -> AsyncIterator[Arrival]:
        """The robot's InputRequests as they come (for as long as the driver is open)."""
        while True:
            yield await self._arrivals.get()

    def expect_stored(self, request_id: str, source: int) -> asyncio.Future[InputMessage | None]:
        """The InputMessage that will close the stock-in `request_id` from input component
        `source` (None: superseded by a request with the same Id). Expect it before answering:
        it may follow at once."""
        return self.link.expect(InputMessage, request_id, source=source)

    async def answer(self, response: InputResponse) -> None:
        """Send an InputResponse; `RobotError` when the link is down."""
        await self.link.send(response)

    # -- hand-out, stock and tasks -------------------------------------------------------------

    async def output(
        self,
        criteria: tuple[OutputCriteria, ...],
        destination: int,
        *,
        priority: Priority = Priority.NORMAL,
    ) -> Output:
        """Ask the robot to output packs; its OutputMessage comes later (`finished`)."""
        id = self.link.next_id()
        done = self.link.expect(OutputMessage, id)  # before the request: it may come fast
        details = OutputDetails(priority=priority, output_destination=destination)
        request = OutputRequest(
            id, self.subscriber, self.link.destination, details, criteria=criteria
        )
        try:
            response = await self.link.request(request, OutputResponse)
        except BaseException:
            done.cancel()
            raise
        if response.details.status is not OutputAccepted.QUEUED:
            done.cancel()
        return Output(id, response, done)

    async def finished(self, output: Output) -> OutputMessage | None:
        """The OutputMessage of a queued output (None: none within `output_within_s`)."""
        try:
            async with asyncio.timeout(self.settings.output_within_s):
                return await output.done
        except (TimeoutError, asyncio.CancelledError):
            if output.done.cancelled():
                return None
            raise

    async def stock(self, criteria: tuple[StockCriteria, ...] = ()) -> StockInfoResponse:
        """What the robot holds, pack by pack."""
        request = StockInfoRequest(
            self.link.next_id(), self.subscriber, self.link.destination,
            include_packs=True, criteria=criteria,
        )  # fmt: skip
        return await self.link.request(request, StockInfoResponse, timeout_s=60.0)

    async def task_info(self, output_id: str) -> TaskInfoResponse:
        request = TaskInfoRequest(
            self.link.next_id(), self.subscriber, self.link.destination,
            InfoTask(output_id, TaskInfoType.OUTPUT), include_task_details=True,
        )  # fmt: skip
        return await self.link.request(request, TaskInfoResponse)

    async def task_cancel(self, output_id: str) -> TaskCancelResponse:
        request = TaskCancelRequest(
            self.link.next_id(), self.subscriber, self.link.destination,
            tasks=(CancelTask(TaskType.OUTPUT, output_id),),
        )  # fmt: skip
        return await self.link.request(request, TaskCancelResponse)

    # -- what the robot starts -----------------------------------------------------------------

    async def _received(self, message: Message | BrokenInputRequest) -> None:
        if isinstance(message, InputRequest | BrokenInputRequest):
            self._arrivals.put_nowait(Arrival(message, asyncio.get_running_loop().time()))
        elif isinstance(message, OutputMessage):  # an output we did not ask for (its GUI)
            self.unsolicited.put_nowait(message)
        elif isinstance(message, StockInfoMessage):
            log.debug("wwks2.stock_changed", articles=len(message.articles))
        else:
            log.warning("wwks2.not_handled", message=type(message).TAG)

"""Stock-in driven by the robot (WWKS2): the robot holds each pack at its input and asks.

Each InputRequest runs on its own, beside the others (several input belts ask at once): every
pack's raw ScanCode is committed first, then the pack takes the steps of a scanned pack — parsed
(the robot's own batch, expiry and serial only compared with the code: a disagreement rejects
it), checked locally, verified, decided by the site policy, decommissioned in hospital mode once
the robot is ready — and the request is answered, Allowed or Rejected with the operator's text,
before the robot's deadline: a hub answer not in by `answer_within_s - margin_s` is no answer,
and the offline policy decides. Each pack's job is committed before the answer goes out; the
robot's InputMessage settles it: Completed with a pack id is the robot's word that the pack is
stored (invariant 1), Aborted after an allowed pack flags it. A repeated Id (after a
RejectedNo…) is the same pack asked about again, taken as a new scan of it. A request with
IsNewDelivery False is a return (`pipeline.returns`); one without it is taken as the site's
`absent_is_new_delivery` says (the spec's default is False, yet a robot that never sets it
would make every stock-in a return).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import structlog
import structlog.contextvars

from fmd.codes import ParsedScan
from fmd.policy import Action, Decision, Why
from robot_controller.pipeline.context import Prepared, new_trx
from robot_controller.pipeline.returns import ReturnSteps
from robot_controller.pipeline.steps import PackSteps, internal_error
from robot_controller.pipeline.until_stop import unless_stopped
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobResult, RobotError
from robot_controller.robot.wwks2.answers import (
    ALLOWED,
    PackAnswer,
    disagreement,
    input_response,
    rejection,
)
from robot_controller.robot.wwks2.link import BrokenInputRequest
from robot_controller.robot.wwks2.robot import Arrival
from robot_controller.routing import job_for
from robot_controller.states import HubOperation, Route
from robot_controller.store import Intent, StoreUnwritable
from scanners.base import Scan
from wwks2.messages import (
    InputHandling,
    InputMessage,
    InputMessagePack,
    InputRequest,
    InputRequestPack,
    InputResponse,
    InputResult,
)

log = structlog.get_logger("fmd.pipeline")

RejectText = Callable[[Decision], str]
"""The text the robot shows for a pack it is told to reject (the operator's catalogue)."""

NOT_ANSWERED = "the link to the robot dropped before our answer: the robot gives the pack back"
NOT_STORED = "the robot did not store the pack it was allowed: {text}"
NO_REPORT = "no InputMessage from the robot: check whether the pack is on the shelf"
ASKED_AGAIN = "the robot asked about this pack again under the same Id: it did not store it"
GIVEN_BACK = (
    "the daemon stopped before the robot had its answer: the pack is back at the robot's input; "
    "put it in again and the robot asks about it again"
)
STOP_GRACE_S = 15.0  # at a stop, how long the robot's reports are still awaited


@runtime_checkable
class AsksAtInput(Protocol):
    """A robot that scans each pack itself and asks about it (the WWKS2 driver)."""

    subscriber: int

    def arrivals(self) -> AsyncIterator[Arrival]: ...

    def expect_stored(
        self, request_id: str, source: int
    ) -> asyncio.Future[InputMessage | None]: ...

    async def answer(self, response: InputResponse) -> None: ...


@dataclass(frozen=True, slots=True)
class StockInTiming:
    """The robot's deadline for our answer, the part of it kept for the answer itself, and how
    long the robot may take to report the pack stored."""

    answer_within_s: float = 3.0
    # what the answer may take after the last hub call: two commits, and a commit now and then
    # takes a few hundred ms (seen at p99 in bench/stock_in_wwks2.py on a 2-core VM)
    margin_s: float = 0.5
    stored_within_s: float = 120.0


DEFAULT_TIMING = StockInTiming()


@dataclass(frozen=True, slots=True)
class _AtInput:
    """One pack of a request: its raw scan, the robot's reading, and a decision made before any
    step (the request could not be used)."""

    raw: str
    pack: InputRequestPack | None
    refused: Decision | None = None


class StockIn:
    """Answers the robot's InputRequests through the pipeline's steps."""

    def __init__(
        self,
        steps: PackSteps,
        robot: AsksAtInput,
        *,
        reject_text: RejectText,
        timing: StockInTiming = DEFAULT_TIMING,
        absent_is_new_delivery: bool = True,
    ) -> None:
        self.steps = steps
        self.returns = ReturnSteps(steps)
        self.robot = robot
        self.reject_text = reject_text
        self.timing = timing
        self.absent_is_new_delivery = absent_is_new_delivery
        self._requests: set[asyncio.Task[None]] = set()
        self._give_up = asyncio.Event()  # stop waiting for the robot's reports
        self._by_id: dict[tuple[str, int], asyncio.Task[None]] = {}  # under way, by Id and Source

    async def run(self, stop: asyncio.Event) -> None:
        """Take the robot's requests until `stop` (`finish` then ends the ones taken)."""
        arrivals = self.robot.arrivals()
        while not stop.is_set():
            arrival = await unless_stopped(anext(arrivals), stop)
            if arrival is None:
                return
            key = (arrival.request.id, arrival.request.source)
            earlier = self._by_id.get(key)
            if earlier is not None and not earlier.done():
                # the robot asks again about the pack of a request under way (after a
                # RejectedNo…): that request's wait for its report ends now, and this one
                # starts once the earlier has let go of the pack
                self.robot.expect_stored(*key)
            task = asyncio.create_task(self.take(arrival, after=earlier))
            self._by_id[key] = task
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
            task.add_done_callback(functools.partial(self._forget, key))

    def _forget(self, key: tuple[str, int], task: asyncio.Task[None]) -> None:
        if self._by_id.get(key) is task:
            del self._by_id[key]

    async def give_back(self, items: Sequence[Prepared]) -> None:
        """Packs a stop left before the robot had our answer: the robot has given them back
        (or asks about them again), so nothing is sent for them now; each is recorded
        returned, flagged with its undo when its decommission may have landed."""
        for item in items:
            with structlog.contextvars.bound_contextvars(token=item.token):
                unmoved = (Route.RETURNED, GIVEN_BACK, False)
                await self.steps.record_route(item, None, None, None, unmoved=unmoved)

    async def finish(self, grace_s: float = STOP_GRACE_S) -> None:
        """Let the requests under way be answered and recorded; a pack whose InputMessage has
        not come within `grace_s` is recorded with its outcome unknown (flagged)."""
        if not self._requests:
            return
        _done, waiting = await asyncio.wait(set(self._requests), timeout=grace_s)
        if waiting:
            log.warning("stock_in.stopping", waiting=len(waiting), detail=NO_REPORT)
            self._give_up.set()
            await asyncio.gather(*waiting, return_exceptions=True)

    async def take(self, arrival: Arrival, *, after: asyncio.Task[None] | None = None) -> None:
        """One InputRequest, answered and its packs recorded (a failure is logged, never
        raised: the robot's other requests go on); `after`: an earlier request with the same
        Id, finished first."""
        request = arrival.request
        if after is not None:
            await asyncio.wait({after})
        with structlog.contextvars.bound_contextvars(wwks2_request=request.id):
            try:
                await self._take(arrival)
            except StoreUnwritable as error:
                self.steps.turn.stop(error)
            except Exception as error:
                log.exception("stock_in.failed", error=repr(error))

    async def _take(self, arrival: Arrival) -> None:
        request = arrival.request
        deadline = arrival.at + self.timing.answer_within_s - self.timing.margin_s
        packs = self._packs(request)
        returned = self._is_return(request)
        recorded = [
            await self._record(request.source, pack.raw, verify=not returned and not pack.refused)
            for pack in packs
        ]
        items = await asyncio.gather(
            *(
                self._decide(token, pack, deadline, returned=returned, verify=verify)
                for (token, verify), pack in zip(recorded, packs, strict=True)
            )
        )
        jobs = [None if item.refused else job_for(item.decision, item.token) for item in items]
        answers = [self._answer(item, job) for item, job in zip(items, jobs, strict=True)]
        ctx = self.steps.context
        job_ids = [
            None
            if job is None
            else await ctx.call(ctx.store.start_job, job, at=ctx.clock(), robot=ctx.robot_name)
            for job in jobs
        ]  # committed before the robot moves on our answer
        stored = self.robot.expect_stored(request.id, request.source)
        moving = time.perf_counter()  # the robot's job: from our answer to its InputMessage
        answered = await self._send(request, answers)
        late = asyncio.get_running_loop().time() - arrival.at - self.timing.answer_within_s
        if late > 0:
            log.warning("stock_in.answer_late", late_ms=round(late * 1000, 1))
        message, again = await self._stored(stored) if answered else (None, False)
        moved_s = time.perf_counter() - moving
        reports = _reports(message, [pack.pack for pack in packs])
        await asyncio.gather(
            *(
                self._settle(
                    item, job, job_id, answered, report, message, again=again, moved_s=moved_s
                )
                for item, job, job_id, report in zip(items, jobs, job_ids, reports, strict=True)
            )
        )

    async def _settle(
        self,
        item: Prepared,
        job: Job | None,
        job_id: int | None,
        answered: bool,
        report: InputMessagePack | None,
        message: InputMessage | None,
        *,
        again: bool = False,
        moved_s: float = 0.0,
    ) -> None:
        """Record where the pack went: a pack that never had a job went back to the operator.
        A job's outcome and how long it took (`moved_s`) are told to the turn's `on_job` (the
        job-duration metric), as a job the pipeline sends is."""
        if job is None:
            why = item.refused or item.decision.message
            await self.steps.record_route(
                item, None, None, None, unmoved=(Route.RETURNED, why, False)
            )
            return
        outcome = _outcome(job, answered, report, message, again=again)
        on_job = self.steps.turn.on_job
        if on_job is not None:
            on_job(job, outcome, moved_s)
        await self.steps.record_route(item, job, job_id, outcome)

    def _packs(self, request: InputRequest | BrokenInputRequest) -> list[_AtInput]:
        if isinstance(request, BrokenInputRequest):
            broken = Decision(
                Action.REJECT, Why.BAD_REQUEST, f"malformed InputRequest: {request.problem}"
            )
            return [_AtInput(raw, None, broken) for raw in request.scan_codes]
        ours = self.robot.subscriber
        refused: Decision | None = None
        if request.destination not in (0, ours):
            refused = Decision(
                Action.REJECT, Why.BAD_REQUEST,
                f"InputRequest for subscriber {request.destination}, not this system ({ours})",
            )  # fmt: skip
        return [
            _AtInput(pack.scan_code, pack, refused)
            for article in request.articles
            for pack in article.packs
        ]

    async def _record(self, source: int, raw: str, *, verify: bool) -> tuple[int, Intent | None]:
        """Commit the raw scan; a pack to `verify` whose code can be sent has its verify
        intent in the same commit (one durable write fewer before the robot's answer; a local
        decision then cancels it in the commit of that decision)."""
        ctx = self.steps.context
        scan = Scan(raw, None, f"wwks2:{source}", ctx.clock())
        parsed = self.steps.parse(raw, None) if verify else None
        ui = parsed.ui if parsed is not None and parsed.submit else None
        store = ctx.store

        def record() -> tuple[int, Intent | None]:
            with store.batch():
                token = store.record_scan(scan, at=scan.at, robot=ctx.robot_name)
                if ui is None:
                    return token, None
                trx = new_trx()
                return token, store.queue_intent(
                    token, ui, HubOperation.VERIFY, None, trx=trx, at=scan.at
                )

        token, intent = await ctx.call(record)
        log.info("scan.recorded", token=token, source=scan.source)
        return token, intent

    def _is_return(self, request: InputRequest | BrokenInputRequest) -> bool:
        if isinstance(request, BrokenInputRequest):
            return False
        new = request.is_new_delivery
        return not (self.absent_is_new_delivery if new is None else new)

    async def _decide(
        self,
        token: int,
        pack: _AtInput,
        deadline: float,
        *,
        returned: bool,
        verify: Intent | None = None,
    ) -> Prepared:
        steps = self.steps
        with structlog.contextvars.bound_contextvars(token=token):
            try:
                if pack.refused is not None:
                    parsed = steps.parse(pack.raw, None)
                    return await steps.decide_locally(token, parsed, pack.refused)
                check = _cross_check(pack.pack) if pack.pack is not None else None
                if returned:
                    returning = await self.returns.prepare(
                        token, pack.raw, check=check, deadline=deadline
                    )
                    return await self._ready(returning)
                item = await steps.prepare(
                    token, pack.raw, None, verify=verify, check=check, deadline=deadline
                )
                return await self._ready(await steps.stage(item, deadline=deadline))
            except StoreUnwritable:
                raise
            except Exception as error:
                steps.release(token)
                log.exception("pack.internal_error", error=str(error))
                return internal_error(token, error)

    async def _ready(self, item: Prepared) -> Prepared:
        """A pack to place is allowed only while the robot says it can take packs (staging asks
        only before a decommission: a community site's pack, or one to verify later, not)."""
        job = job_for(item.decision, item.token)
        if item.refused is not None or item.sent or job is None:
            return item
        if job.code is not JobCode.PLACE_ON_SHELF:
            return item
        refusal = await self.steps.turn.can_take(job.code, pack_here=False)
        return item if refusal is None else dataclasses.replace(item, refused=refusal.message)

    def _answer(self, item: Prepared, job: Job | None) -> PackAnswer:
        if item.refused is not None:  # a pack the robot could not take: said as that, not why
            # it would have been allowed
            refusal = Decision(Action.RETURN, Why.ROBOT_NOT_READY, item.refused)
            return PackAnswer(InputHandling.REJECTED, self.reject_text(refusal))
        if job is not None and job.code is JobCode.PLACE_ON_SHELF:
            return PackAnswer(InputHandling.ALLOWED, ui=item.parsed.ui)
        return PackAnswer(InputHandling.REJECTED, self.reject_text(item.decision))

    async def _send(
        self, request: InputRequest | BrokenInputRequest, answers: list[PackAnswer]
    ) -> bool:
        ours = self.robot.subscriber
        if isinstance(request, BrokenInputRequest):
            text = answers[0].text or "" if answers else ""
            response = rejection(request.id, ours, request.source, request.indexes, text)
        else:
            response = input_response(request, answers, source=ours)
        try:
            await self.robot.answer(response)
        except RobotError as error:
            log.error("stock_in.not_answered", error=str(error))
            return False
        allowed = sum(answer.handling in ALLOWED for answer in answers)
        log.info("stock_in.answered", packs=len(answers), allowed=allowed)
        return True

    async def _stored(
        self, stored: asyncio.Future[InputMessage | None]
    ) -> tuple[InputMessage | None, bool]:
        """The robot's InputMessage (None: none in time, unreadable, the daemon stops, or the
        robot asked again under the same Id: then True)."""
        giving_up: asyncio.Future[Any] = asyncio.ensure_future(self._give_up.wait())
        try:
            await asyncio.wait(
                {stored, giving_up},
                timeout=self.timing.stored_within_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            giving_up.cancel()
        if not stored.done():
            stored.cancel()
            log.error("stock_in.no_input_message", detail=NO_REPORT)
            return None, False
        try:
            message = stored.result()
        except RobotError as error:
            log.error("stock_in.input_message_unusable", error=str(error), detail=NO_REPORT)
            return None, False
        if message is None:
            log.info("stock_in.asked_again", detail=ASKED_AGAIN)
        return message, message is None


def _cross_check(pack: InputRequestPack) -> Callable[[ParsedScan], Decision | None]:
    def check(parsed: ParsedScan) -> Decision | None:
        if parsed.ui is None:
            return None
        problem = disagreement(pack, parsed.ui)
        return None if problem is None else Decision(Action.REJECT, Why.ROBOT_DISAGREES, problem)

    return check


def _reports(
    message: InputMessage | None, packs: list[InputRequestPack | None]
) -> list[InputMessagePack | None]:
    """The InputMessage's report of each pack we answered: by Index where the packs have one,
    else in order (None where it names none of ours, or where an Index given twice, in the
    request or the report, leaves it unclear which pack a report is of: invariant 1)."""
    reported = [] if message is None else [p for article in message.articles for p in article.packs]
    asked = [pack.index for pack in packs if pack is not None and pack.index is not None]
    told = [pack.index for pack in reported if pack.index is not None]
    if len(set(asked)) < len(asked) or len(set(told)) < len(told):
        return [None] * len(packs)
    by_index = {pack.index: pack for pack in reported if pack.index is not None}
    result: list[InputMessagePack | None] = []
    for position, pack in enumerate(packs):
        index = pack.index if pack is not None else None
        if index is not None and index in by_index:
            result.append(by_index[index])
        elif len(reported) == len(packs):
            result.append(reported[position])
        else:
            result.append(None)
    return result


def _outcome(
    job: Job,
    answered: bool,
    report: InputMessagePack | None,
    message: InputMessage | None,
    *,
    again: bool = False,
) -> JobOutcome | None:
    """What became of a pack's job, from the robot's InputMessage (None: unknown); `again`:
    the robot asked about the pack again under the same Id, so it did not store it."""
    placing = job.code is JobCode.PLACE_ON_SHELF
    given_back = (
        JobResult.QUARANTINED if job.code is JobCode.DIVERT_TO_QUARANTINE else JobResult.REJECTED
    )
    if again:
        return JobOutcome(JobResult.REJECTED if placing else given_back, message=ASKED_AGAIN)
    if not answered:
        return JobOutcome(
            JobResult.REFUSED_NOT_READY if placing else given_back, message=NOT_ANSWERED
        )
    if report is None:
        return None if message is None or placing else JobOutcome(given_back)
    text = report.handling.text or "no reason given"
    if report.handling.input is InputResult.COMPLETED and report.id > 0:
        return JobOutcome(JobResult.STORED, location=report.id)
    if placing:
        return JobOutcome(JobResult.REJECTED, message=NOT_STORED.format(text=text))
    return JobOutcome(given_back)

"""The loading bench: each pack's outcome as it happens (a live stream), the delivery's
counters, the devices, banners when the hub is away or loading is paused, and the hand-out
where the robot speaks WWKS2 (`web.hand_out`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event
from pydantic import BaseModel, Field

from fmd.hub.resilient import HubHealth
from robot_controller.operator_console import ROUTE_WORDS
from robot_controller.robot.base import RobotError
from robot_controller.states import IntentStatus, Route
from robot_controller.web.access import OPERATE, SIGNED_IN, Principal
from robot_controller.web.events import PackEventOut
from robot_controller.web.feed import LiveFeed, PackEvent
from robot_controller.web.hand_out import MAX_QUANTITY, Asked, HandedOut, hand_out
from robot_controller.web.pages import render, templates
from robot_controller.web.services import ScannerState, WebServices, services_of
from robot_controller.web.sse import PING_S, SSE_HEADERS, Resume

router = APIRouter()
Viewer = Annotated[Principal, Depends(SIGNED_IN)]
Operator = Annotated[Principal, Depends(OPERATE)]
ROWS = 50
"""How many packs the page shows (the stream deletes the row that falls off)."""
ROBOT_STATUS_S = 1.0
"""How long the bench waits for the robot's status before it shows it as not answering."""


class ScannerOut(BaseModel):
    name: str
    connected: bool | None = Field(description="None: the scanner cannot tell")


class RobotOut(BaseModel):
    name: str
    kind: str
    state: str = Field(description="What the robot reports, or why it cannot be read")
    hand_out: bool = Field(description="The robot hands packs out from the bench (WWKS2)")


class BenchOut(BaseModel):
    counts: dict[str, int] = Field(description="Packs by route, every route named")
    flagged: int
    packs: list[PackEventOut] = Field(description="The newest packs, newest first")
    hub: str = Field(description="How the national system answers")
    hub_offline: bool
    queued: int = Field(description="Outbox intents waiting to be sent")
    paused: str | None = Field(description="Why loading waits for the robot (None: it does not)")
    robot: RobotOut
    scanners: list[ScannerOut]


@dataclass(frozen=True, slots=True)
class Status:
    """The bench's header: counters, devices, and what the banners say."""

    counts: dict[str, int]
    flagged: int
    hub: HubHealth
    queued: int
    paused: str | None
    robot: RobotOut
    scanners: tuple[ScannerState, ...]

    @property
    def hub_offline(self) -> bool:
        return self.hub is not HubHealth.ANSWERING

    @property
    def rows(self) -> list[tuple[str, str, str, int]]:
        """Each route's value, icon, words and count, in the bench's order."""
        return [(route.value, icon, word, self.counts[route.value])
                for route, (icon, word, _) in ROUTE_WORDS.items()]  # fmt: skip

    @property
    def total(self) -> int:
        """The packs loaded (a hand-out is a pack leaving, not one more)."""
        return sum(n for route, n in self.counts.items() if route != Route.DISPENSED)


def _queued(counts: dict[tuple[str, str], int]) -> int:
    return sum(n for (_, status), n in counts.items() if status == IntentStatus.PENDING.value)


@dataclass
class _Glance:
    """The robot's state as the bench last read it: one read a second for all the screens open
    (each polls every 2 s), so twenty tablets do not add twenty status reads to the robot's bus."""

    value: RobotOut | None = None
    at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


async def _robot_glanced(request: Request) -> RobotOut:
    glance: _Glance | None = getattr(request.app.state, "bench_robot", None)
    if glance is None:
        glance = request.app.state.bench_robot = _Glance()
    async with glance.lock:
        now = time.monotonic()
        if glance.value is None or now - glance.at >= ROBOT_STATUS_S:
            glance.value, glance.at = await _robot(services_of(request)), now
        return glance.value


async def _robot(services: WebServices) -> RobotOut:
    config = services.config.robot
    kind = config.kind if config is not None else "none"
    robot = services.robot
    can_hand_out = services.hand_out is not None
    if robot is None:
        return RobotOut(name=services.robot_name, kind=kind, state="no daemon runs",
                        hand_out=can_hand_out)  # fmt: skip
    try:
        async with asyncio.timeout(ROBOT_STATUS_S):
            status = await robot.status()
        state = status.reported or status.state.name.lower()
        state += "" if status.fault is None else f", fault {status.fault}"
    except (RobotError, TimeoutError) as error:
        state = f"not answering ({error or 'no status in time'})"
    return RobotOut(name=services.robot_name, kind=kind, state=state, hand_out=can_hand_out)


async def status_of(request: Request) -> Status:
    """The counters, devices and banners, now."""
    services = services_of(request)
    feed = services.feed
    outbox = await asyncio.to_thread(services.store.outbox_counts, robot=services.robot_name)
    return Status(
        counts={route.value: feed.counts[route.value] for route in ROUTE_WORDS},
        flagged=feed.flagged,
        hub=services.hub_health(),
        queued=_queued(outbox),
        paused=services.paused(),
        robot=await _robot_glanced(request),
        scanners=services.scanners(),
    )


def _newest(services: WebServices) -> list[PackEvent]:
    return list(reversed(services.feed.recent(limit=ROWS)))


@router.get("/api/v1/bench", response_model=BenchOut)
async def bench_api(request: Request, who: Viewer) -> BenchOut:
    services = services_of(request)
    status = await status_of(request)
    return BenchOut(
        counts=status.counts,
        flagged=status.flagged,
        packs=[PackEventOut.model_validate(event.as_json()) for event in _newest(services)],
        hub=status.hub.value,
        hub_offline=status.hub_offline,
        queued=status.queued,
        paused=status.paused,
        robot=status.robot,
        scanners=[ScannerOut(name=s.name, connected=s.connected) for s in status.scanners],
    )


@router.get("/bench", include_in_schema=False)
async def bench_page(request: Request, who: Viewer) -> HTMLResponse:
    services = services_of(request)
    # the hand-out this browser just made (shown once: a reload hands nothing out again)
    shown = services.handed.pop(who.session.id, None) if who.session else None
    handed = shown if isinstance(shown, DispenseOut) else None
    message = _handed_words(handed) if handed else ""
    return render(request, "bench/page.html", packs=_newest(services),
                  last_seq=services.feed.last_seq, bench=await status_of(request), handed=handed,
                  message=message,
                  destination=_destination(services), max_quantity=MAX_QUANTITY)  # fmt: skip


@router.get("/bench/status", include_in_schema=False)
async def bench_status(request: Request, who: Viewer) -> HTMLResponse:
    return render(request, "bench/_status.html", bench=await status_of(request))


@lru_cache(maxsize=1024)
def _row(event: PackEvent) -> bytes:
    """A pack's row on the wire, rendered once for every browser it goes to."""
    html = templates.get_template("bench/_pack.html").render(pack=event, drop=event.seq - ROWS)
    return format_sse_event(data_str=html, event="pack", id=str(event.seq))


async def _rows(feed: LiveFeed, after: int | None) -> AsyncIterator[bytes]:
    async for event in feed.follow_or_quiet(after=after, quiet_s=PING_S):
        yield KEEPALIVE_COMMENT if event is None else _row(event)


@router.get("/bench/stream", include_in_schema=False)
async def bench_stream(request: Request, who: Viewer, after: Resume) -> EventSourceResponse:
    """Each pack as an HTML row (event `pack`, id its seq) from the bench's own partial, with
    an out-of-band delete of the row that falls off the page; a ping when quiet (`web.sse`)."""
    return EventSourceResponse(_rows(services_of(request).feed, after), headers=SSE_HEADERS)


def _destination(services: WebServices) -> int:
    robot = services.config.robot
    return getattr(robot, "dispense_destination", 1)


class DispenseIn(BaseModel):
    product: str | None = Field(None, max_length=20, description="A product code (GTIN/PPN)")
    article: str | None = Field(None, max_length=64, description="The robot's article id")
    quantity: int = Field(1, ge=1, le=MAX_QUANTITY)
    destination: int | None = Field(None, ge=1, le=999, description="The robot's output")


class DispenseOut(BaseModel):
    output: str
    asked: int
    left: int
    status: str = Field(description="How the robot's output ended")
    packs: list[HandedOut]
    message: str | None = Field(description="Why fewer packs left than asked (None: all did)")


def _handed_words(handed: DispenseOut) -> str:
    return handed.message or f"{handed.left} of {handed.asked} packs handed out"


async def _dispense(services: WebServices, asked: Asked, actor: str) -> DispenseOut:
    done = await hand_out(services, asked, actor=actor)
    return DispenseOut(output=done.output, asked=asked.quantity, left=len(done.packs),
                       status=done.status, packs=done.packs, message=done.message)  # fmt: skip


@router.post("/api/v1/dispense", response_model=DispenseOut)
async def dispense_api(request: Request, who: Operator, body: DispenseIn) -> DispenseOut:
    services = services_of(request)
    asked = Asked.of(body.product, body.article, body.quantity,
                     body.destination or _destination(services))  # fmt: skip
    return await _dispense(services, asked, who.actor)


@router.post("/bench/dispense", include_in_schema=False)
async def dispense_form(
    request: Request,
    who: Operator,
    product: Annotated[str, Form(max_length=20)] = "",
    article: Annotated[str, Form(max_length=64)] = "",
    quantity: Annotated[str, Form(max_length=6)] = "1",
    destination: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    services = services_of(request)
    handed, message, status = None, "", 200
    try:
        if not quantity.strip().isdigit() or not (1 <= int(quantity) <= MAX_QUANTITY):
            raise HTTPException(422, f"quantity: a whole number from 1 to {MAX_QUANTITY}")
        if destination.strip() and not destination.strip().isdigit():
            raise HTTPException(422, "destination: the number of the robot's output")
        to = int(destination) if destination.strip() else _destination(services)
        asked = Asked.of(product.strip() or None, article.strip() or None, int(quantity), to)
        handed = await _dispense(services, asked, who.actor)
        if who.session is not None:  # after, see the page: a reload must not hand out again
            services.handed[who.session.id] = handed
            return RedirectResponse("/bench", status_code=303)
        message = _handed_words(handed)
    except HTTPException as error:
        message, status = str(error.detail), error.status_code
    return render(request, "bench/page.html", status=status, packs=_newest(services),
                  last_seq=services.feed.last_seq, bench=await status_of(request),
                  handed=handed, message=message, destination=_destination(services),
                  max_quantity=MAX_QUANTITY)  # fmt: skip

"""For the people who run the service: `/metrics` for Prometheus, `/healthz` and `/readyz`.

`/metrics` needs a signed-in caller: a scraper sends `Authorization: Bearer <token>` of a user
made for it (`fmd-robot users add prometheus --role operator`). The probes are public and say
nothing secret: which part is not ready and why, in one line each, never an address.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from fmd.hub.resilient import HubHealth
from robot_controller.robot.base import RobotError
from robot_controller.web.access import PUBLIC, SIGNED_IN, Principal
from robot_controller.web.services import WebServices, services_of

router = APIRouter(tags=["operations"])

STORE_WITHIN_S = 2.0
ROBOT_WITHIN_S = 2.0
HUB_WORDS = {
    HubHealth.UNANSWERED: "not answering (packs follow the offline policy; checks queue)",
    HubHealth.BREAKER_OPEN: "failed too often: calls are paused for the breaker's cool-down",
}


class Alive(BaseModel):
    status: str = "alive"


class Check(BaseModel):
    part: str
    ready: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(request: Request, who: Annotated[Principal, Depends(SIGNED_IN)]) -> Response:
    """Every `fmd_` metric in Prometheus' text format (the store is read in a thread)."""
    text = await asyncio.to_thread(services_of(request).metrics.exposition)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
async def healthz(who: Annotated[Principal | None, Depends(PUBLIC)]) -> Alive:
    """The process serves."""
    return Alive()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a part is not ready"}},
)
async def readyz(
    request: Request, who: Annotated[Principal | None, Depends(PUBLIC)]
) -> Readiness | JSONResponse:
    """The store can be read, the hub answers (as the daemon last saw it: no call per probe)
    and the robot answers a status read; 503 naming each part that is not ready and why."""
    services = services_of(request)
    checks = [await _store(services), _hub(services), await _robot(services)]
    readiness = Readiness(ready=all(check.ready for check in checks), checks=checks)
    if not readiness.ready:
        return JSONResponse(readiness.model_dump(), status_code=503)
    return readiness


async def _store(services: WebServices) -> Check:
    try:
        seq, _ = await asyncio.wait_for(
            asyncio.to_thread(services.store.audit_head), STORE_WITHIN_S
        )
    except TimeoutError:
        return Check(part="store", ready=False, detail=f"no answer within {STORE_WITHIN_S:g} s")
    except Exception as error:  # noqa: BLE001 - any failure to read is the answer
        return Check(part="store", ready=False, detail=f"cannot be read: {_line(error)}")
    return Check(part="store", ready=True, detail=f"readable (audit chain at {seq})")


def _hub(services: WebServices) -> Check:
    health = services.hub_health()
    words = HUB_WORDS.get(health)
    if words is not None:
        return Check(part="hub", ready=False, detail=words)
    return Check(part="hub", ready=True, detail=health.value)


async def _robot(services: WebServices) -> Check:
    robot = services.robot
    if robot is None:
        return Check(part="robot", ready=False, detail="no daemon runs beside this web server")
    try:
        status = await asyncio.wait_for(robot.status(), ROBOT_WITHIN_S)
    except TimeoutError:
        return Check(part="robot", ready=False, detail=f"no answer within {ROBOT_WITHIN_S:g} s")
    except RobotError as error:
        return Check(part="robot", ready=False, detail=f"unreachable: {_line(error)}")
    paused = services.paused()
    detail = f"answers (state {status.state.name.lower()})"
    return Check(
        part="robot", ready=True, detail=detail + (f"; loading paused: {paused}" if paused else "")
    )


def _line(error: BaseException) -> str:
    """The error's first line, short (a driver's words; never a URL is put here by us)."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]

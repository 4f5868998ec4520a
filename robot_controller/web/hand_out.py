"""A hand-out asked for at the bench: the WWKS2 robot outputs the packs, and each pack that
left is recorded (and, in community mode, its SUPPLIED decommission committed) in the name of
the person who asked, by the daemon's own `HandOut` (`robot_controller.dispense`)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from fastapi import HTTPException
from pydantic import BaseModel

from robot_controller.dispense import Handed, line
from robot_controller.dispense_rules import ended, product_code_problem
from robot_controller.robot.base import RobotError
from robot_controller.robot.wwks2 import Wwks2Robot
from robot_controller.web.services import WebServices
from wwks2.messages import OutputAccepted, OutputCriteria

MAX_QUANTITY = 50
"""The most packs one hand-out asks for."""
NOT_WWKS2 = (
    "hand-out: the robot {name} ({kind}) cannot hand packs out from here; only a WWKS2 robot "
    'can ([robot] kind = "wwks2")'
)
log = structlog.get_logger("fmd.web")


@dataclass(frozen=True, slots=True)
class Asked:
    """What the person asked for: an article id (a product code or the robot's own id), how
    many packs, to which output."""

    article: str
    quantity: int
    destination: int

    @classmethod
    def of(cls, product: str | None, article: str | None, quantity: int, destination: int) -> Asked:
        """The request, or 422 (one line) when it names no product, both, or a bad one."""
        if (product is None) == (article is None):
            raise HTTPException(422, "give exactly one of a product code or the robot's article id")
        if product is not None:
            problem = product_code_problem(product.strip())
            if problem is not None:
                raise HTTPException(422, problem.removeprefix("--"))
            return cls(product.strip(), quantity, destination)
        if article is None or not article.strip() or not article.strip().isprintable():
            raise HTTPException(422, "article: give the robot's article id")
        return cls(article.strip(), quantity, destination)


class HandedOut(BaseModel):
    token: int
    robot_pack: int | None
    product_code: str | None
    serial: str | None
    shelved: bool
    trouble: bool
    line: str

    @classmethod
    def of(cls, handed: Handed) -> HandedOut:
        ui = handed.left.ui
        return cls(
            token=handed.dispensed.token, robot_pack=handed.left.robot_pack,
            product_code=ui.product_code if ui else None, serial=ui.serial if ui else None,
            shelved=handed.dispensed.shelved, trouble=handed.trouble, line=line(handed),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Done:
    output: str
    status: str
    packs: list[HandedOut]
    message: str | None


def refusal(services: WebServices) -> str | None:
    """Why the bench cannot hand packs out (None: it can)."""
    if isinstance(services.robot, Wwks2Robot) and services.hand_out is not None:
        return None
    config = services.config.robot
    return NOT_WWKS2.format(name=services.robot_name, kind=config.kind if config else "none")


async def hand_out(services: WebServices, asked: Asked, *, actor: str) -> Done:
    """Ask the robot, wait for its report, record every pack that left in `actor`'s name:
    409 without a WWKS2 robot or when the robot refuses, 503 when it cannot be reached, 504
    when it reports nothing in time."""
    robot, recorder = services.robot, services.hand_out
    why = refusal(services)
    if why is not None or not isinstance(robot, Wwks2Robot) or recorder is None:
        raise HTTPException(409, why)
    criteria = OutputCriteria(asked.quantity, article_id=asked.article)
    log.info("web.hand_out", actor=actor, article=asked.article, quantity=asked.quantity,
             destination=asked.destination)  # fmt: skip
    try:
        output = await robot.output((criteria,), asked.destination)
        accepted = output.response.details.status
        if accepted is not OutputAccepted.QUEUED:
            raise HTTPException(
                409, f"the robot refused output {output.id} ({accepted.value}): nothing left it"
            )
        message = await robot.finished(output)
    except RobotError as error:
        raise HTTPException(503, f"robot: {error}") from None
    if message is None:
        raise HTTPException(504, ended(None, asked.quantity))
    handed = await recorder.record(message, actor=actor)
    for pack in handed:
        (log.warning if pack.trouble else log.info)("web.hand_out.pack", actor=actor,
                                                    detail=line(pack))  # fmt: skip
    return Done(output.id, message.details.status.value, [HandedOut.of(h) for h in handed],
                ended(message, asked.quantity))  # fmt: skip

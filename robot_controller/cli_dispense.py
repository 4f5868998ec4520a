"""`fmd-robot dispense (--product CODE | --article ID) [--quantity N] [--destination D]`: the
robot hands packs out (WWKS2 OutputRequest); each pack that left is recorded and, in community
mode, decommissioned SUPPLIED through the outbox (`robot_controller.dispense`)."""

from __future__ import annotations

import asyncio
import getpass
import inspect
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, NoReturn

import typer

from fmd.hub.resilient import ResilientHub
from robot_controller.cli_common import ConfigOption, person_text, real_hub, settings_of
from robot_controller.config import Config, ConfigError, Wwks2RobotConfig
from robot_controller.console import fail, json_line, out
from robot_controller.dispense import Handed, HandOut, line
from robot_controller.dispense_rules import ended, product_code_problem
from robot_controller.logs import configure_logging
from robot_controller.pipeline import utc_now
from robot_controller.robot.base import RobotError
from robot_controller.store import StoreBusy, StoreError
from robot_controller.wiring import NO_ROBOT, build_hub, hold_store, open_store, open_wwks2
from wwks2.messages import OutputAccepted, OutputCriteria, OutputMessage, OutputResponse

EXITS = (
    "Exit codes: 0 every pack asked for left and was recorded (in community mode decommissioned "
    "SUPPLIED, or committed for the running daemon to send); 1 the robot could not be reached, "
    "rejected the output or sent no OutputMessage within robot.output_within_s; 2 usage or "
    "configuration errors (a robot that is not WWKS2 among them); 3 fewer packs left than asked "
    "(those that left are recorded); 4 a pack that left needs a look: never shelved here or "
    "unidentified (flagged), or its decommission refused (an alert case) or unanswered."
)
INTERRUPTED = (
    "interrupted: an output the robot queued goes on (`fmd-robot robot task ID`); the packs it "
    "hands out are recorded only if a running daemon receives the robot's report"
)
NOT_WWKS2 = 'robot: `{command}` needs a WWKS2 robot ([robot] kind = "wwks2"), not {kind!r}'


def wwks2_robot(settings: Config, command: str) -> Wwks2RobotConfig:
    """The configuration's WWKS2 robot (usage error, one line, for any other)."""
    robot = settings.robot
    if robot is None:
        raise fail(NO_ROBOT)
    if not isinstance(robot, Wwks2RobotConfig):
        raise fail(NOT_WWKS2.format(command=command, kind=robot.kind))
    return robot


@dataclass
class _Done:
    """What the hand-out came to: the robot's response and report, and the packs recorded."""

    output_id: str = ""
    response: OutputResponse | None = None
    message: OutputMessage | None = None
    handed: list[Handed] = field(default_factory=list)
    busy: StoreBusy | None = None


def dispense(
    product: Annotated[
        str | None, typer.Option("--product", metavar="CODE", help="A product code (GTIN/PPN).")
    ] = None,
    article: Annotated[
        str | None, typer.Option("--article", metavar="ID", help="The robot's article id.")
    ] = None,
    quantity: Annotated[int, typer.Option(min=1, help="How many full packs.")] = 1,
    destination: Annotated[
        int | None,
        typer.Option(min=1, help="The robot's output (default: robot.dispense_destination)."),
    ] = None,
    actor: Annotated[
        str | None, typer.Option(help="Who hands out (the audit log; default: the login).")
    ] = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Have the robot hand packs out; record each pack that left and, in community mode,
    decommission it SUPPLIED through the outbox."""
    article_id = _article_of(product, article)
    settings = settings_of(config)
    robot = wwks2_robot(settings, "dispense")
    if settings.site.mode == "community":
        settings = real_hub(settings)
    who = person_text("--actor", actor) if actor is not None else getpass.getuser()
    configure_logging(level="warning", stream=sys.stderr)
    criteria = OutputCriteria(quantity, article_id=article_id)
    to = destination if destination is not None else robot.dispense_destination
    try:
        done = asyncio.run(
            _dispense(settings, robot, criteria, to, who.strip() or "operator", as_json)
        )
    except ConfigError as error:
        raise fail(str(error), code=1) from None
    except RobotError as error:
        raise fail(f"robot: {error}", code=1) from None
    except StoreError as error:
        raise fail(str(error), code=1) from None
    except KeyboardInterrupt:
        raise fail(INTERRUPTED, code=1) from None
    _show(done, quantity, as_json)


dispense.__doc__ = f"{inspect.cleandoc(dispense.__doc__ or '')}\n\n{EXITS}"


def _article_of(product: str | None, article: str | None) -> str:
    """The Criteria's ArticleId the options give (usage error, one line, otherwise)."""
    if product is not None and article is None:
        problem = product_code_problem(product)
        if problem is not None:
            raise fail(problem)
        return product
    if article is not None and product is None:
        if not article.strip():
            raise fail("--article: give the robot's article id")
        return person_text("--article", article)
    raise fail("give exactly one of --product CODE or --article ID")


async def _dispense(
    settings: Config,
    config: Wwks2RobotConfig,
    criteria: OutputCriteria,
    destination: int,
    actor: str,
    as_json: bool,
) -> _Done:
    """Open the store (and, in community mode, the hub), then the robot; ask, wait, record."""
    community = settings.site.mode == "community"
    done = _Done()
    hub: ResilientHub | None = await build_hub(settings) if community else None
    try:
        try:
            lock = await asyncio.to_thread(hold_store, settings.store.url, robot=config.name)
        except StoreBusy as error:  # beside a running daemon: commit only, it sends
            lock, done.busy = None, error
        try:
            store = await asyncio.to_thread(
                open_store, settings.store.url, location=settings.site.location
            )
            try:
                robot = await open_wwks2(config)
                try:
                    output = await robot.output((criteria,), destination)
                    done.output_id, done.response = output.id, output.response
                    if not as_json:
                        out.print(
                            _response_line(output.id, output.response),
                            highlight=False,
                            soft_wrap=True,
                        )
                    if output.response.details.status is not OutputAccepted.QUEUED:
                        return done
                    done.message = await robot.finished(output)
                finally:
                    await robot.aclose()
                if done.message is not None:
                    hand_out = HandOut(
                        store, hub, utc_now, community=community,
                        location=settings.site.location, robot=config.name,
                        send=done.busy is None,
                        lease=timedelta(seconds=settings.store.claim_lease_s),
                        separators=settings.site.separators,
                    )  # fmt: skip
                    done.handed = await hand_out.record(done.message, actor=actor)
                return done
            finally:
                store.close()
        finally:
            if lock is not None:
                lock.release()
    finally:
        if hub is not None:
            await hub.aclose()


def _response_line(output_id: str, response: OutputResponse) -> str:
    details = response.details
    return f"output {output_id}: {details.status.value} (destination {details.output_destination})"


def _show(done: _Done, quantity: int, as_json: bool) -> NoReturn:
    response, message = done.response, done.message
    problem: str | None = None
    code = 0
    if response is None or response.details.status is not OutputAccepted.QUEUED:
        problem, code = f"the robot rejected output {done.output_id}", 1
    else:
        problem = ended(message, quantity)
        if message is None or (problem is not None and not done.handed):
            code = 1
        elif problem is not None:
            code = 3
    if any(h.trouble for h in done.handed):
        code = 4
    if done.busy is not None and done.handed:
        why = f"{done.busy}: decommissions committed to the outbox; the running daemon sends them"
        problem = problem or why
    if as_json:
        json_line({
            "output": done.output_id,
            "response": response.details.status.value if response else None,
            "status": message.details.status.value if message else None,
            "asked": quantity,
            "left": len(done.handed),
            "packs": [_pack_json(h) for h in done.handed],
            "message": problem,
            "exit": code,
        })  # fmt: skip
    else:
        for handed in done.handed:
            out.print(line(handed), highlight=False, soft_wrap=True)
    if code:
        if as_json:
            raise typer.Exit(code)
        raise fail(problem or "a pack that left needs a look (above)", code=code)
    if not as_json:
        out.print(
            problem or f"{len(done.handed)} of {quantity} packs handed out",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(0)


def _pack_json(handed: Handed) -> dict[str, object]:
    ui, intent = handed.left.ui, handed.intent
    return {
        "token": handed.dispensed.token,
        "robot_pack": handed.left.robot_pack,
        "product_code": ui.product_code if ui else None,
        "serial": ui.serial if ui else None,
        "shelved": handed.dispensed.shelved,
        "already": handed.dispensed.already,
        "intent": intent.status.value if intent else None,
        "return_code": intent.last_code if intent else None,
        "alert_case": handed.case.id if handed.case else None,
        "line": line(handed),
    }

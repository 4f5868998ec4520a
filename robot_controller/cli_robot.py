"""`fmd-robot robot status|command|ack` for the robot control terminal, and the simulated robots
(`fmd-robot sim plc|serial-robot|wwks2-robot`).

The terminal is a host while it is connected: its driver keeps the host heartbeat and, leaving,
tells the robot so (heartbeat 0), so a terminal never trips the robot's watchdog. Each refusal is
one line naming the state, the cause and the next step (`robot.readiness`)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from robot_controller.cli_common import ConfigOption, settings_of
from robot_controller.cli_dispense import wwks2_robot
from robot_controller.config import ConfigError
from robot_controller.console import fail, out
from robot_controller.logs import configure_logging
from robot_controller.robot.base import (
    CommandRefused,
    JobCode,
    MachineCommand,
    Robot,
    RobotError,
    RobotStatus,
    fault_name,
)
from robot_controller.robot.readiness import command_refused, fault_refused, not_ready
from robot_controller.robot.terminal import (
    NO_FAULTS,
    TAKES_NO_PACKS,
    TAKES_PACKS,
    flag_names,
    last_job,
    state_words,
    wwks2_takes_packs,
)
from robot_controller.robot.wwks2 import Wwks2Robot
from robot_controller.wiring import NO_ROBOT, open_robot, open_wwks2
from simulators.plc import serve_plc
from simulators.robot_model import Timings
from simulators.serial_robot import serve_serial_robot
from simulators.wwks2 import Faults, Malformed, RobotSettings, ScansError, Wwks2RobotSim, read_scans
from wwks2.messages import CancelStatus, StatusResponse, TaskStatus

robot_app = typer.Typer(help="The robot control terminal.", no_args_is_help=True)
T = TypeVar("T")
R = TypeVar("R", bound=Robot)


@robot_app.command("status")
def robot_status(config: ConfigOption = None) -> None:
    """Show the robot's PackML state, status word, fault and counters (a WWKS2 robot: its
    own state and components, as it reports them)."""
    status, reported = _with_robot(config, _status_of)
    if reported is not None:
        out.print(_wwks2_table(*reported))
        return
    table = Table(show_header=False, box=None)
    table.add_row("state", status.state.name)
    table.add_row("ready", "yes" if status.ready else "no")
    table.add_row("status word", ", ".join(flag_names(status.flags)) or "—")
    table.add_row("fault", fault_name(status.fault))
    table.add_row("stored / rejected", f"{status.packs_stored} / {status.packs_rejected}")
    table.add_row("last job", last_job(status))
    if status.job_ack_seq != status.job_done_seq:
        table.add_row("running job", f"{status.job_ack_seq}: token {status.acked_token or '—'}")
    refusal = not_ready(status, JobCode.PLACE_ON_SHELF)
    table.add_row("takes a pack", refusal.message if refusal is not None else "yes")
    out.print(table)


@robot_app.command("command")
def robot_command(
    command: Annotated[
        str,
        typer.Argument(
            help="reset, start, stop, hold, unhold, suspend, unsuspend, abort or clear."
        ),
    ],
    config: ConfigOption = None,
) -> None:
    """Send a PackML command; refused when the robot's state does not allow it."""
    try:
        chosen = MachineCommand[command.upper()]
    except KeyError:
        names = ", ".join(c.name.lower() for c in MachineCommand)
        raise fail(f"unknown command {command!r}: one of {names}") from None

    async def send(robot: Robot) -> RobotStatus:
        try:
            await robot.command(chosen)
        except CommandRefused as error:
            if isinstance(robot, Wwks2Robot):  # it takes none: the driver says so
                raise RobotError(str(error)) from None
            raise RobotError(command_refused(await robot.status(), chosen)) from None
        return await robot.status()

    status = _with_robot(config, send)
    out.print(f"{chosen.name.lower()} accepted; the robot is {status.state.name}", highlight=False)


@robot_app.command("ack")
def robot_ack(
    fault: Annotated[int, typer.Argument(min=1, help="The fault code shown by `robot status`.")],
    config: ConfigOption = None,
) -> None:
    """Acknowledge a fault once its cause is removed. Exit 1 when the robot still has it."""

    async def ack(robot: Robot) -> RobotStatus:
        if isinstance(robot, Wwks2Robot):
            raise RobotError(NO_FAULTS)
        status = await robot.status()
        if status.fault != fault or not await robot.ack_fault(fault):
            raise RobotError(fault_refused(await robot.status(), fault))
        return await robot.status()

    status = _with_robot(config, ack)
    out.print(
        f"fault {fault_name(fault)} cleared; the robot is {status.state.name}", highlight=False
    )


async def _status_of(
    robot: Robot,
) -> tuple[RobotStatus, tuple[StatusResponse, str, int | None] | None]:
    """The robot's status and, for a WWKS2 robot, its own report, its name and id."""
    status = await robot.status()
    if not isinstance(robot, Wwks2Robot):
        return status, None
    return status, (await robot.report(), robot.link.robot_name, robot.link.robot_id)


def _wwks2_table(report: StatusResponse, name: str, robot_id: int | None) -> Table:
    """A WWKS2 robot's state in its own words: its state, each component's, and whether it
    takes packs (it asks about each one itself)."""
    table = Table(show_header=False, box=None)
    table.add_row("robot", f"{name or 'unnamed'}, WWKS2 subscriber {robot_id or '—'}")
    table.add_row("state", state_words(report.state.value, report.state_text))
    for component in report.components:
        state = state_words(component.state.value, component.state_text)
        table.add_row("component", f"{component.description} ({component.type.value}): {state}")
    takes = TAKES_PACKS if wwks2_takes_packs(report) else TAKES_NO_PACKS
    table.add_row("takes packs", takes)
    return table


@robot_app.command("task")
def robot_task(
    output: Annotated[str, typer.Argument(metavar="ID", help="The output's Id (`dispense`).")],
    config: ConfigOption = None,
) -> None:
    """Ask a WWKS2 robot where an output stands (TaskInfo): its status and the packs so far.
    Exit 0 when the robot knows it, 1 when it does not or cannot be reached, 2 for a robot
    that is not WWKS2."""
    state = _with_wwks2(config, "robot task", lambda robot: robot.task_info(output)).task
    packs = sum(len(article.packs) for article in state.articles)
    out.print(f"output {state.id}: {state.status.value} ({packs} packs out)", highlight=False)
    if state.status is TaskStatus.UNKNOWN:
        raise typer.Exit(1)


@robot_app.command("cancel")
def robot_cancel(
    output: Annotated[str, typer.Argument(metavar="ID", help="The output's Id (`dispense`).")],
    config: ConfigOption = None,
) -> None:
    """Cancel a WWKS2 robot's output (TaskCancel): Cancelled (exit 0), CancelError (it is too
    far along) or Unknown (exit 1); exit 2 for a robot that is not WWKS2."""
    answer = _with_wwks2(config, "robot cancel", lambda robot: robot.task_cancel(output))
    task = next((t for t in answer.tasks if t.id == output), answer.tasks[0])
    out.print(f"output {task.id}: {task.status.value}", highlight=False)
    if task.status is not CancelStatus.CANCELLED:
        raise typer.Exit(1)


def _with_wwks2(
    config: Path | None, command: str, action: Callable[[Wwks2Robot], Awaitable[T]]
) -> T:
    """Run `action` on the configured WWKS2 robot: exit 2 (one line) for another kind, 1 when
    it cannot be reached or does not answer."""
    chosen = wwks2_robot(settings_of(config), command)
    return _drive(lambda: open_wwks2(chosen), action)


def _with_robot(config: Path | None, action: Callable[[Robot], Awaitable[T]]) -> T:
    """Run `action` on the configured robot: exit 2 when the configuration names none, 1 when
    the robot cannot be reached or refuses. stdout is the command's answer alone (warnings go
    to stderr, the driver's info lines and pymodbus' own nowhere)."""
    settings = settings_of(config)
    if settings.robot is None:
        raise fail(
            "robot: this configuration's robot is simulated and exists only while "
            "`fmd-robot run` or `fmd-robot demo` runs; give --config with a robot section"
            if settings.simulation is not None
            else NO_ROBOT
        )
    chosen = settings.robot
    return _drive(lambda: open_robot(chosen), action)


def _drive(opening: Callable[[], Awaitable[R]], action: Callable[[R], Awaitable[T]]) -> T:
    """Open the robot, run `action` on it and close it: exit 1 (one line) when it cannot be
    reached or refuses; warnings go to stderr."""
    configure_logging(level="warning", stream=sys.stderr)

    async def run() -> T:
        robot = await opening()
        try:
            return await action(robot)
        finally:
            await robot.aclose()

    try:
        return asyncio.run(run())
    except (ConfigError, RobotError) as error:
        raise fail(str(error), code=1) from None


def sim_plc(
    tcp: Annotated[
        str | None, typer.Option(help="Serve Modbus TCP on HOST:PORT (e.g. 127.0.0.1:5020).")
    ] = None,
    rtu: Annotated[
        str | None, typer.Option(help="Serve Modbus RTU on a serial port or socket://HOST:PORT.")
    ] = None,
    move_time_ms: Annotated[float, typer.Option(min=0.0, help="Mechanical time per job.")] = 500,
) -> None:
    """A simulated robot PLC speaking the register map of ARCHITECTURE.md, until Ctrl-C."""
    if (tcp is None) == (rtu is None):
        raise fail("give exactly one of --tcp HOST:PORT or --rtu PORT")
    address: tuple[str, int] | None = None
    if tcp is not None:
        host, _, port = tcp.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise fail(f"--tcp takes HOST:PORT, not {tcp!r}")
        address = (host, int(port))
    configure_logging(level="warning", stream=sys.stderr)  # pymodbus's noise too: we say it once
    serving = serve_plc(
        tcp=address, rtu=rtu, timings=Timings(move_s=move_time_ms / 1000), announce=_announce
    )
    _serve(serving)


def sim_serial_robot(
    move_time_ms: Annotated[float, typer.Option(min=0.0, help="Mechanical time per job.")] = 500,
) -> None:
    """A simulated robot on the serial line protocol, on a pty, until Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        serve_serial_robot(
            timings=Timings(move_s=move_time_ms / 1000),
            announce=lambda port: _announce(f"serial robot on {port} (Ctrl-C stops)"),
        )


def sim_wwks2_robot(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: a free one).")] = 6050,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    scans: Annotated[
        Path | None,
        typer.Option(help="Packs to stock in, one per line (code, TAB, JSON attributes)."),
    ] = None,
    subscriber: Annotated[int, typer.Option(min=1, help="The robot's subscriber Id.")] = 999,
    components: Annotated[
        str, typer.Option(help="Input components' Source ids, comma-separated.")
    ] = "40,41",
    capacity: Annotated[int, typer.Option(min=0, help="Packs the shelf holds.")] = 1000,
    move_time_ms: Annotated[float, typer.Option(min=0.0, help="Mechanical time per pack.")] = 500,
    deadline_s: Annotated[
        float, typer.Option(min=0.0, help="How long the robot waits for an InputResponse.")
    ] = 5.0,
    keepalive_s: Annotated[
        float, typer.Option(min=0.0, help="The robot's own KeepAlive interval (0: none).")
    ] = 10.0,
    destinations: Annotated[
        str, typer.Option(help="Valid OutputDestinations, comma-separated (empty: any).")
    ] = "",
    lower_case_escapes: Annotated[
        bool, typer.Option(help="Write \\x1d in lower case, as live robots do.")
    ] = False,
    raw_control_characters: Annotated[
        bool, typer.Option(help="Send control characters raw (not XML).")
    ] = False,
    drop_after: Annotated[
        int | None, typer.Option(min=1, help="Drop every connection after N messages in.")
    ] = None,
    reply_delay_ms: Annotated[float, typer.Option(min=0.0, help="Delay before each reply.")] = 0,
    ignore: Annotated[
        list[str] | None, typer.Option(help="Leave this lead element unanswered (repeatable).")
    ] = None,
    malformed: Annotated[
        str | None,
        typer.Option(help="Send one broken-xml, unknown-element or oversized message per Hello."),
    ] = None,
) -> None:
    """A simulated WWKS2 storage robot (BD Rowa style) serving TCP, until Ctrl-C."""
    try:
        settings = RobotSettings(
            host=host, port=port, subscriber=subscriber, components=_numbers(components),
            capacity=capacity, move_time_s=move_time_ms / 1000, answer_deadline_s=deadline_s,
            keepalive_every_s=keepalive_s or None,
            valid_destinations=frozenset(_numbers(destinations)),
        )  # fmt: skip
        if not settings.components:
            raise ValueError("--components: give at least one id")
        if malformed is not None and malformed not in set(Malformed):
            raise ValueError(f"--malformed: one of {', '.join(Malformed)}, not {malformed!r}")
        faults = Faults(
            drop_after=drop_after, reply_delay_s=reply_delay_ms / 1000,
            ignore=frozenset(ignore or ()), lower_case_escapes=lower_case_escapes,
            raw_control_characters=raw_control_characters,
            malformed_after_hello=Malformed(malformed) if malformed else None,
        )  # fmt: skip
        packs = read_scans(scans) if scans is not None else []
    except (ValueError, ScansError) as error:
        raise fail(str(error).removeprefix("ValueError: ")) from None
    sim = Wwks2RobotSim(settings, faults=faults, scans=packs)

    async def run() -> None:
        async with sim:
            _announce(f"wwks2 robot on {host}:{sim.port} (Ctrl-C stops)")
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        _announce(sim.summary())
    except OSError as error:
        raise fail(f"sim wwks2-robot: {error}") from None


def _numbers(text: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of numbers") from None
    if any(n <= 0 for n in numbers):
        raise ValueError(f"{text!r}: ids are whole numbers above 0")
    return numbers


def _announce(message: Any) -> None:
    out.print(str(message), highlight=False, soft_wrap=True)


def _serve(serving: Awaitable[None]) -> None:
    async def run() -> None:
        await serving

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as error:
        raise fail(f"sim plc: {error}") from None

"""`fmd-robot pack supply --manual …` and `fmd-robot verify --manual …`: one pack at the hub
from its printed code, keyed in by hand (`robot_controller.keyed_in`), for a pack the robot does
not load because its code cannot be scanned."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, NoReturn

import typer

from fmd.codes.model import Scheme
from fmd.hub import HubAuthFailed, ManualEntry, PackState, Reason
from fmd.hub.manual import missing_fields
from robot_controller.cli_common import ConfigOption, answer_of, real_hub, settings_of, show_answer
from robot_controller.config import Config, ConfigError
from robot_controller.console import fail, out
from robot_controller.keyed_in import (
    EntryRefused,
    KeyedIn,
    KeyedInRefused,
    entry_text,
    keyed_entry,
    send_keyed_in,
)
from robot_controller.logs import configure_logging
from robot_controller.pipeline import utc_now
from robot_controller.pipeline.context import new_trx
from robot_controller.states import IntentStatus
from robot_controller.store import DEFAULT_ROBOT, StoreError
from robot_controller.wiring import build_hub, login_refused, open_store

pack_app = typer.Typer(help="One pack at the national system, by hand.", no_args_is_help=True)

ManualOption = Annotated[
    tuple[str, str] | None,
    typer.Option(
        "--manual",
        metavar="PRODUCT SERIAL",
        help="A pack keyed in by hand from its printed product code (GTIN or PPN) and serial.",
    ),
]
BatchOption = Annotated[str | None, typer.Option(help="The batch as printed (with --manual).")]
ExpiryOption = Annotated[
    str | None, typer.Option(help="The expiry as printed, YYMMDD (with --manual).")
]
SchemeOption = Annotated[
    str | None,
    typer.Option(help="GTIN or PPN (default: GTIN for 14 digits, else PPN; with --manual)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]
_SCHEMES: dict[str, Scheme] = {"GTIN": "GTIN", "PPN": "PPN"}


def keyed(
    manual: tuple[str, str], batch: str | None, expiry: str | None, scheme: str | None
) -> ManualEntry:
    """The entry of `--manual PRODUCT SERIAL` and its options, checked (usage error otherwise)."""
    if scheme is not None and scheme not in _SCHEMES:
        raise fail(f"--scheme is GTIN or PPN, not {scheme!r}")
    product, serial = manual
    try:
        return keyed_entry(
            product,
            serial,
            batch=batch,
            expiry=expiry,
            scheme=_SCHEMES[scheme] if scheme is not None else None,
            this_year=utc_now().year,
        )
    except EntryRefused as error:
        raise fail(f"--manual: {error}") from None


def run_keyed(settings: Config, entry: ManualEntry, to: Reason | None, as_json: bool) -> NoReturn:
    """Verify (`to` None) or decommission a keyed-in pack and show the answer. Exit 0 when the
    pack is ACTIVE (verify) or the change landed, 1 when not (or no answer came), 2 on usage
    or configuration errors."""
    missing = missing_fields(entry, to)
    if missing is not None:
        raise fail(f"--manual: {missing}: give --batch and --expiry")
    configure_logging(level="warning", stream=sys.stderr)
    try:
        done = asyncio.run(_send(settings, entry, to))
    except KeyedInRefused as error:
        raise fail(str(error), code=1) from None
    except ConfigError as error:
        raise fail(str(error)) from None
    except HubAuthFailed as error:
        raise fail(str(login_refused(error))) from None
    except StoreError as error:
        raise fail(str(error), code=1) from None
    if done.result is None:
        _unanswered(done, as_json)
    answer = {**answer_of(done.result), "token": done.token, "entry": entry_text(entry)}
    if to is not None:
        answer["intent"] = done.intent.value if done.intent is not None else None
    answer["flagged"] = done.flag
    show_answer(answer, as_json)
    if not as_json:
        out.print(f"recorded as pack {done.token}, keyed in by hand", highlight=False)
    result = done.result
    ok = result.outcome == "ok" and (
        result.state is PackState.ACTIVE if to is None else to in result.reasons
    )
    raise typer.Exit(0 if ok else 1)


async def _send(settings: Config, entry: ManualEntry, to: Reason | None) -> KeyedIn:
    hub = await build_hub(settings)
    try:
        store = await asyncio.to_thread(
            open_store, settings.store.url, location=settings.site.location
        )
        try:
            robot = settings.robot.name if settings.robot is not None else DEFAULT_ROBOT
            return await send_keyed_in(
                store, hub, entry, to, trx=new_trx(), clock=utc_now, robot=robot,
                location=settings.site.location,
            )  # fmt: skip
        finally:
            store.close()
    finally:
        await hub.aclose()


def _unanswered(done: KeyedIn, as_json: bool) -> NoReturn:
    if done.flag is not None:
        then = done.flag
    elif done.intent is IntentStatus.PENDING:
        then = (
            "it waits in the outbox: the running daemon, or `fmd-robot outbox replay`, asks "
            "the pack's state before it sends it again"
        )
    else:
        then = "a verify changes nothing: verify it again"
    message = f"the hub did not answer ({done.error}); pack {done.token} recorded: {then}"
    if as_json:
        intent = done.intent.value if done.intent is not None else None
        show_answer({"outcome": None, "error": message, "token": done.token, "intent": intent,
                     "flagged": done.flag}, True)  # fmt: skip
    raise fail(message, code=1)


@pack_app.command("supply")
def pack_supply(
    manual: Annotated[
        tuple[str, str],
        typer.Option(
            "--manual",
            metavar="PRODUCT SERIAL",
            help="The pack's printed product code (GTIN or PPN) and serial, keyed in by hand.",
        ),
    ],
    batch: BatchOption = None,
    expiry: ExpiryOption = None,
    scheme: SchemeOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Decommission a pack keyed in by hand as supplied (dispensed), with its batch and expiry
    if they are printed, else with the product code and serial alone. Recorded as a manual scan
    and committed to the outbox before it is sent.

    Exit 0 when the hub set it SUPPLIED, 1 when it did not (or did not answer), 2 on usage or
    configuration errors.
    """
    settings = real_hub(settings_of(config))
    run_keyed(settings, keyed(manual, batch, expiry, scheme), Reason.SUPPLIED, as_json)

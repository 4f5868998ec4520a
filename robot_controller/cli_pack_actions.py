"""`fmd-robot pack undo|destroy|lock|unlock|stolen|export|sample PRODUCT SERIAL --reason TEXT
--actor NAME` (or `--scan RAW` for the pack): one person's state change for one pack at the hub,
through the outbox (`robot_controller.pack_actions`); `fmd-robot outbox undo TOKEN` is `pack
undo` for the pack a token names."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, NoReturn

import typer

from fmd.codes import parse_scan
from fmd.codes.escapes import unescape_controls
from robot_controller.cli_common import (
    ConfigOption,
    person_text,
    real_hub,
    settings_of,
    show_answer,
)
from robot_controller.cli_pack import JsonOption, pack_app
from robot_controller.config import Config, ConfigError
from robot_controller.console import err, fail, line, out
from robot_controller.logs import configure_logging
from robot_controller.pack_actions import PackRequest, commit, send
from robot_controller.pack_rules import WHAT, ActionRefused, PackAction, Planned, cautions
from robot_controller.pipeline import utc_now
from robot_controller.pipeline.context import new_trx
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import DEFAULT_ROBOT, Intent, StoreBusy, StoreError
from robot_controller.wiring import build_hub, hold_store, open_store

ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why, in the person's words (kept in the audit log).")
]
ActorOption = Annotated[
    str, typer.Option("--actor", help="Who asks for it (named in the audit log).")
]
ScanOption = Annotated[
    str | None,
    typer.Option(
        "--scan",
        metavar="RAW",
        help="The pack's scan instead of PRODUCT SERIAL, spelled as for `parse` (needed for a "
        "pack never seen here, which is then recorded).",
    ),
]
ProductArgument = Annotated[
    str | None, typer.Argument(metavar="PRODUCT", help="The product code (GTIN or PPN).")
]
SerialArgument = Annotated[str | None, typer.Argument(metavar="SERIAL", help="The serial.")]

EXITS = (
    "\n\nCommitted to the outbox in the actor's name before it is sent. Exit 0 when the hub "
    "made the change, 1 when it was refused here or by the hub or is still pending (no "
    "answer, or a running daemon sends it), 2 on usage or configuration errors."
)


@dataclass(frozen=True, slots=True)
class _Acted:
    """A committed pack action: what was planned, its intent now, why the replay stopped, or
    which daemon sends it (`busy`: it was committed only)."""

    planned: Planned
    intent: Intent
    stopped: str | None = None
    busy: StoreBusy | None = None


def _command(action: PackAction) -> Callable[..., None]:
    def command(
        reason: ReasonOption,
        actor: ActorOption,
        product: ProductArgument = None,
        serial: SerialArgument = None,
        scan: ScanOption = None,
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        run_action(action, product, serial, scan, reason, actor, settings_of(config), as_json)

    command.__doc__ = WHAT[action] + EXITS
    return command


for _action in PackAction:
    pack_app.command(_action.value)(_command(_action))


def run_action(
    action: PackAction,
    product: str | None,
    serial: str | None,
    scan: str | None,
    reason: str,
    actor: str,
    settings: Config,
    as_json: bool,
) -> NoReturn:
    """Judge, commit and send one pack action, and say what became of it (the exit codes of
    `EXITS`)."""
    request = _request(action, product, serial, scan, reason, actor, settings)
    settings = real_hub(settings)
    configure_logging(level="warning", stream=sys.stderr)
    try:
        acted = asyncio.run(_act(settings, request))
    except ActionRefused as refused:
        message = f"{action} {request.product_code} {request.serial}: {refused}"
        if as_json:
            refusal: dict[str, object] = {
                "action": action.value,
                "product_code": request.product_code,
                "serial": request.serial,
                "intent": None,
                "message": message,
            }
            show_answer(refusal, True)
        raise fail(message, code=1) from None
    except ConfigError as error:
        raise fail(str(error)) from None
    except StoreError as error:
        raise fail(str(error), code=1) from None
    _show(action, request, acted, settings, as_json)


def _request(
    action: PackAction,
    product: str | None,
    serial: str | None,
    scan: str | None,
    reason: str,
    actor: str,
    settings: Config,
) -> PackRequest:
    """The request the arguments make (usage error, one line, when they make none)."""
    if not reason.strip():
        raise fail("--reason: say why (it is kept in the audit log)")
    if not actor.strip():
        raise fail("--actor: name who asks (it is kept in the audit log)")
    reason, actor = person_text("--reason", reason), person_text("--actor", actor)
    if scan is not None and product is not None:
        raise fail("give the pack's PRODUCT SERIAL or its scan (--scan RAW), not both")
    location = settings.site.location
    if scan is None:
        if product is None or serial is None:
            raise fail("give the pack's PRODUCT SERIAL, or its scan (--scan RAW)")
        return PackRequest(action, product, serial, actor.strip(), reason.strip(), location)
    raw = unescape_controls(scan)
    parsed = parse_scan(raw, separators=settings.site.separators)
    if parsed.ui is None or not parsed.submit:
        problems = ", ".join(p.code.value for p in parsed.problems) or "no UI"
        raise fail(f"--scan: not a pack's unique identifier ({problems}); see `fmd-robot parse`")
    ui = parsed.ui
    return PackRequest(action, ui.product_code, ui.serial, actor.strip(), reason.strip(),
                       location, scanned=ui, raw=raw)  # fmt: skip


async def _act(settings: Config, request: PackRequest) -> _Acted:
    """Commit, then send unless a daemon holds the store (it sends it at its next replay)."""
    robot = settings.robot.name if settings.robot is not None else DEFAULT_ROBOT
    url = settings.store.url
    hub = await build_hub(settings)
    try:
        busy: StoreBusy | None = None
        try:
            lock = await asyncio.to_thread(hold_store, url, robot=robot)
        except StoreBusy as error:  # beside a running daemon: commit only, never send
            lock, busy = None, error
        try:
            store = await asyncio.to_thread(open_store, url)
            try:
                planned, intent = await asyncio.to_thread(
                    commit, store, request, trx=new_trx(), at=utc_now(), robot=robot
                )
                if busy is not None:
                    return _Acted(planned, intent, busy=busy)
                lease = timedelta(seconds=settings.store.claim_lease_s)
                sent = await send(store, hub, intent, clock=utc_now, claimant=robot, lease=lease)
                return _Acted(planned, sent.intent, sent.stopped)
            finally:
                store.close()
        finally:
            if lock is not None:
                lock.release()
    finally:
        await hub.aclose()


def _show(
    action: PackAction, request: PackRequest, acted: _Acted, settings: Config, as_json: bool
) -> NoReturn:
    intent, planned = acted.intent, acted.planned
    for caution in cautions(
        planned, intent.token, utc_now(), done=intent.status is IntentStatus.DONE
    ):
        err.print(line(("warning:", "bold yellow"), f" {caution}"), highlight=False)
    message = _message(action, acted, settings)
    answer: dict[str, object] = {
        "action": action.value,
        "token": intent.token,
        "product_code": request.product_code,
        "serial": request.serial,
        "operation": intent.operation.value,
        "reason": planned.reason.value,
        "intent": intent.status.value,
        "return_code": intent.last_code,
        "trx": intent.client_trx_id,
        "actor": request.actor,
        "undo_deadline": planned.deadline.isoformat() if planned.deadline is not None else None,
        "message": message,
    }
    if as_json:
        show_answer(answer, True)
    else:  # the message goes on its own line below
        show_answer({k: v for k, v in answer.items() if v is not None and k != "message"}, False)
    if intent.status is not IntentStatus.DONE:
        raise fail(message, code=1)
    if not as_json:
        out.print(message, highlight=False)
    raise typer.Exit(0)


def _message(action: PackAction, acted: _Acted, settings: Config) -> str:
    intent, reason = acted.intent, acted.planned.reason
    name = f"pack {intent.token}"
    if acted.busy is not None:
        every = settings.pipeline.replay_every_s
        then = (
            f"a running daemon sends it at its next replay (every {every:g} s), or "
            "`fmd-robot outbox replay` once that process has stopped"
            if every is not None
            else "`fmd-robot outbox replay` sends it once that process has stopped (a daemon "
            "does not replay while it runs: pipeline.replay_every_s is off)"
        )
        return f"{acted.busy}: {action} of {name} committed to the outbox, not sent; {then}"
    status = intent.status
    if status is IntentStatus.DONE:
        if intent.operation is HubOperation.UNDO:
            return f"{name}: its {reason} decommission undone at the hub, ACTIVE again"
        return f"{name}: {reason} at the hub"
    if status is IntentStatus.PENDING:
        return (
            f"the hub did not answer ({acted.stopped}): {name}'s {action} waits in the outbox; "
            "the next replay asks the pack's state before it sends it again"
        )
    if status is IntentStatus.FAILED:
        return f"the hub refused {name}'s {action} ({intent.last_code}): nothing changed"
    if status is IntentStatus.FLAGGED:
        return f"{name}'s {action} was not sent ({intent.last_code}): look at the pack"
    return f"{name}'s {action} was not sent: its deferred check came back bad, quarantine it"

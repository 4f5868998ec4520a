"""`fmd-robot alerts`: the alert register (every hub alert's case, listed, shown, moved on) and
the quarantine inventory (the packs in the quarantine chute, why, and their case).

The inventory is `alerts quarantine`, not a command of its own: the chute is where a pack
waits while its alert case is worked, and each line names that case. Reading commands open
the store read-only; a transition writes beside a running daemon (one short transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from robot_controller.alert_cases import AlertCase, AlertState, Transition, TransitionRefused
from robot_controller.cli_common import (
    ConfigOption,
    existing_store,
    human,
    person_text,
    settings_of,
)
from robot_controller.console import fail, json_lines, line, out
from robot_controller.operator_console import WHY_WORDS
from robot_controller.pipeline import utc_now
from robot_controller.store import StoreError
from robot_controller.store.alert_register import QuarantinedPack

alerts_app = typer.Typer(
    help="The alert register: each hub alert's case, and the packs in the quarantine chute.",
    no_args_is_help=True,
)

_WHY = {why.value: words for why, words in WHY_WORDS.items()}
JsonLines = Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout.")]
AlertArgument = Annotated[int, typer.Argument(help="The alert's number in the register.")]


def _when(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


def _minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def case_json(case: AlertCase) -> dict[str, object]:
    """An alert case as one JSON object."""
    return {
        "id": case.id,
        "token": case.token,
        "alert_id": case.alert_id,
        "return_code": case.return_code,
        "message": case.message,
        "raised_at": _when(case.raised_at),
        "state": case.state.value,
        "cause": case.cause.value if case.cause else None,
        "updated_at": _when(case.updated_at),
        "product_code": case.product_code,
        "serial": case.serial,
        "batch": case.batch,
        "location": case.location,
    }


def transition_json(step: Transition) -> dict[str, object]:
    return {
        "from": step.from_state.value,
        "to": step.to_state.value,
        "cause": step.cause.value if step.cause else None,
        "reason": step.reason,
        "actor": step.actor,
        "at": _when(step.at),
    }


def quarantined_json(pack: QuarantinedPack) -> dict[str, object]:
    """A pack in the quarantine chute as one JSON object (`alert`: its newest case, or null)."""
    return {
        "token": pack.token,
        "product_code": pack.product_code,
        "serial": pack.serial,
        "batch": pack.batch,
        "expiry_raw": pack.expiry_raw,
        "why": pack.why,
        "message": pack.message,
        "since": _when(pack.since),
        "flagged": pack.flagged,
        "alert": None if pack.alert is None else case_json(pack.alert),
    }


def _cells(*values: object) -> list[Text]:
    """Table cells for untrusted values (never markup); a missing one is a dash."""
    return [Text("—" if value in (None, "") else str(value)) for value in values]


def _state(case: AlertCase) -> str:
    return f"{case.state} ({case.cause})" if case.cause else case.state.value


@alerts_app.command("list")
def alerts_list(
    state: Annotated[str | None, typer.Option("--state", help="Only cases in this state.")] = None,
    as_json: JsonLines = False,
    config: ConfigOption = None,
) -> None:
    """List the alert cases, oldest first (`--state open|investigating|closed`)."""
    if state is not None and state not in {s.value for s in AlertState}:
        raise fail(f"--state must be one of {', '.join(AlertState)}, not {state!r}")
    with existing_store(settings_of(config), read_only=True) as store:
        try:
            cases = store.alert_cases(None if state is None else AlertState(state))
        except StoreError as error:
            raise fail(str(error)) from None
    if as_json:
        json_lines([case_json(case) for case in cases])
        return
    table = Table(title="Alert register", title_justify="left")
    for column in ("alert", "raised (UTC)", "state", "return code", "product code", "serial",
                   "pack"):  # fmt: skip
        table.add_column(column)
    for case in cases:
        table.add_row(*_cells(case.id, _minute(case.raised_at), _state(case), case.return_code,
                              case.product_code, case.serial, case.token))  # fmt: skip
    out.print(table)
    waiting = sum(case.state is not AlertState.CLOSED for case in cases)
    out.print(f"{len(cases)} cases, {waiting} not closed.", highlight=False)


@alerts_app.command("show")
def alerts_show(
    alert: AlertArgument, as_json: JsonLines = False, config: ConfigOption = None
) -> None:
    """Show one alert case with every transition it went through."""
    with existing_store(settings_of(config), read_only=True) as store:
        try:
            found = store.alert_case(alert)
        except StoreError as error:
            raise fail(str(error)) from None
    if found is None:
        raise fail(f"there is no alert {alert} in the register")
    case, steps = found
    if as_json:
        json_lines([{**case_json(case), "transitions": [transition_json(s) for s in steps]}])
        return
    for key, value in case_json(case).items():
        label, shown = human(key, value)
        out.print(line((f"{label:<14}", "bold"), shown), highlight=False, soft_wrap=True)
    for step in steps:
        cause = f" ({step.cause})" if step.cause else ""
        out.print(
            line(f"{_when(step.at)}  {step.from_state} → {step.to_state}{cause}  by ",
                 (step.actor, "bold"), f": {step.reason}"),
            highlight=False,
            soft_wrap=True,
        )  # fmt: skip
    if not steps:
        out.print("no transitions yet", highlight=False)


@alerts_app.command("transition")
def alerts_transition(
    alert: AlertArgument,
    state: Annotated[str, typer.Argument(help="investigating or closed.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
    actor: Annotated[str, typer.Option("--actor", help="Who makes the change (required).")],
    cause: Annotated[
        str | None, typer.Option("--cause", help="Closing only: why the case is closed.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Move an alert case on: open → investigating → closed, or open → closed. Closing needs a
    cause: scanner-or-process-error, undone-within-window, reported-to-authority or
    returned-to-supplier. Refused (exit 1, nothing changed) when the register does not allow
    it."""
    reason, actor = person_text("--reason", reason), person_text("--actor", actor)
    with existing_store(settings_of(config)) as store:
        try:
            case = store.move_alert(alert, state, cause=cause, reason=reason, actor=actor,
                                    at=utc_now())  # fmt: skip
        except TransitionRefused as error:
            raise fail(str(error), code=1) from None
        except StoreError as error:
            raise fail(str(error)) from None
    out.print(line(f"alert {case.id} is now {_state(case)}, by ", (actor.strip(), "bold")))


@alerts_app.command("quarantine")
def alerts_quarantine(as_json: JsonLines = False, config: ConfigOption = None) -> None:
    """List the packs in the quarantine chute, the longest there first: why each is there,
    since when, and its alert case."""
    with existing_store(settings_of(config), read_only=True) as store:
        try:
            packs = store.quarantine()
        except StoreError as error:
            raise fail(str(error)) from None
    if as_json:
        json_lines([quarantined_json(pack) for pack in packs])
        return
    table = Table(title="Quarantine chute", title_justify="left")
    for column in ("pack", "since (UTC)", "why", "product code", "serial", "batch", "expiry",
                   "alert"):  # fmt: skip
        table.add_column(column)
    for pack in packs:
        alert = pack.alert
        case = None if alert is None else f"{alert.id} {_state(alert)}"
        why = _WHY.get(pack.why, pack.why) + (" (to check)" if pack.flagged else "")
        table.add_row(*_cells(pack.token, _minute(pack.since), why, pack.product_code,
                              pack.serial, pack.batch, pack.expiry_raw, case))  # fmt: skip
    out.print(table)
    out.print(f"{len(packs)} packs in the quarantine chute.", highlight=False)

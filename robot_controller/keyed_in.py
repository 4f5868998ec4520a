"""A pack keyed in by hand from its printed code, because its DataMatrix cannot be read.

The keyed fields are checked here first (check digits, characters, the date as printed), and a
pack that fails is refused before anything is recorded or sent. Then, in this order: the entry is
committed to the log as a scan of source `manual` (its raw text `entry_text`, so an inspector
sees what was keyed by hand), finished at once as `returned` (it never goes to the robot); a
decommission is committed to the outbox with its transaction id in the same transaction; the hub
is asked (`HubClient.manual`); its answer and the intent's new status are committed together.

An outbox intent holds a whole pack identifier, so a supply keyed in with its batch and expiry
that gets no answer stays pending, and the outbox replay asks the pack's state before it sends
it again (as an ordinary decommission: the dialects' manual marking is not kept in the outbox).
A supply keyed in with its product code and serial alone (nmvs.md §2.9) fits no intent: it is
sent at once under a transaction id committed beforehand, and one that gets no answer is flagged
for the operator, never sent again by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fmd.codes.checks import (
    is_cset82,
    is_digits,
    is_ppn_format,
    is_valid_gtin,
    is_valid_ppn,
    is_valid_pzn,
    non_cset82,
    pzn_in_product_code,
)
from fmd.codes.dates import parse_yymmdd
from fmd.codes.fields import MAX_TEXT_LENGTH
from fmd.codes.model import Scheme
from fmd.hub.contract import (
    HubAuthFailed,
    HubClient,
    HubResult,
    HubUnavailable,
    ManualEntry,
    Reason,
)
from fmd.hub.manual import entry_ui, missing_fields
from robot_controller.outbox import settle_status
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import DEFAULT_ROBOT, Intent, Store

AGAIN = "key it in again from the pack's print"
KEYED_IN_CLAIM = "keyed-in:"
"""The claim a keyed-in supply's intent is committed with (then its trx id): the command sends
it at once, so no replay beside it (a running daemon's) takes it until the command is done."""


class EntryRefused(ValueError):
    """Keyed-in fields that cannot be sent (one line: which field and why)."""


class KeyedInRefused(Exception):
    """A keyed-in pack the hub must not be asked about now (one line: why)."""


@dataclass(frozen=True, slots=True)
class KeyedIn:
    """What became of a pack keyed in by hand: its token, the hub's answer (None: none came,
    `error` says why), the decommission intent's status (None: a verify, or no intent), and
    why the pack is flagged for the operator (None: it is not)."""

    token: int
    result: HubResult | None
    error: str | None
    intent: IntentStatus | None
    flag: str | None


def keyed_entry(
    product_code: str,
    serial: str,
    *,
    batch: str | None = None,
    expiry: str | None = None,
    scheme: Scheme | None = None,
    this_year: int,
) -> ManualEntry:
    """The entry of the fields keyed in, checked as a scan's would be; `EntryRefused` naming
    the first field that cannot be right. The scheme is GTIN for 14 digits, else PPN."""
    if (batch is None) != (expiry is None):
        raise EntryRefused("the batch and the expiry are keyed in together, or neither")
    if scheme is None:
        scheme = "GTIN" if len(product_code) == 14 and is_digits(product_code) else "PPN"
    problems = (
        _product_code_problem(scheme, product_code),
        _text_problem("serial", serial),
        _text_problem("batch", batch),
        _expiry_problem(expiry, this_year),
    )
    problem = next((p for p in problems if p is not None), None)
    if problem is not None:
        raise EntryRefused(f"{problem}: {AGAIN}")
    return ManualEntry(scheme, product_code, serial, batch, expiry)


def entry_text(entry: ManualEntry) -> str:
    """What was keyed, spelled out: the raw text of its scan (no field holds a space)."""
    fields = (
        ("scheme", entry.scheme),
        ("product_code", entry.product_code),
        ("serial", entry.serial),
        ("batch", entry.batch),
        ("expiry_raw", entry.expiry_raw),
    )
    return " ".join(["manual", *(f"{name}={value}" for name, value in fields if value is not None)])


StoreCall = Callable[..., Awaitable[Any]]


async def send_keyed_in(
    store: Store,
    hub: HubClient,
    entry: ManualEntry,
    to: Reason | None,
    *,
    trx: str,
    clock: Callable[[], datetime],
    robot: str = DEFAULT_ROBOT,
    location: str | None = None,
    run: StoreCall = asyncio.to_thread,
) -> KeyedIn:
    """Verify (`to` None) or decommission a pack keyed in by hand, recorded before and after
    the hub is asked (see the module). `KeyedInRefused` when the hub's manual entry cannot carry
    it, or a change for the pack still waits in the outbox; nothing is recorded then. A refused
    login is recorded, then raised. `location`: the premises (`[site] location`), kept on the
    decommission for its undo."""
    missing = missing_fields(entry, to)
    if missing is not None:
        raise KeyedInRefused(missing)
    if to is not None and await run(store.change_pending, entry):
        raise KeyedInRefused(
            "a change for this pack still waits in the outbox: replay it first "
            "(`fmd-robot outbox replay`), then look at the pack's state"
        )
    what = "a verify" if to is None else f"a decommission to {to}"
    message = f"keyed in by hand: {what} under trx {trx}; never at the robot"
    claimant = f"{KEYED_IN_CLAIM}{trx}"
    token, intent = await run(
        _record_entry, store, entry, to, trx, message, clock(), robot, location, claimant
    )
    try:
        started = time.perf_counter()
        result: HubResult | None = None
        error: str | None = None
        try:
            result = await hub.manual(entry, to, trx=trx)
        except HubAuthFailed as refused:  # nothing was applied: the intent is never sent
            cancelled = _Answer(None, str(refused), IntentStatus.CANCELLED, None)
            await run(_record_answer, store, token, entry, to, trx, intent, cancelled,
                      time.perf_counter() - started, clock())  # fmt: skip
            raise
        except HubUnavailable as unavailable:
            error = str(unavailable) or type(unavailable).__name__
        answer = _Answer(result, error, _intent_status(intent, result),
                         _flag(to, intent, result, trx))  # fmt: skip
        await run(_record_answer, store, token, entry, to, trx, intent, answer,
                  time.perf_counter() - started, clock())  # fmt: skip
    finally:  # what is left pending is the replay's now, which asks before it sends again
        if intent is not None:
            await run(store.release_claims, by=claimant)
    return KeyedIn(token, result, error, answer.intent, answer.flag)


@dataclass(frozen=True, slots=True)
class _Answer:
    result: HubResult | None
    error: str | None
    intent: IntentStatus | None
    flag: str | None


def _record_entry(
    store: Store,
    entry: ManualEntry,
    to: Reason | None,
    trx: str,
    message: str,
    at: datetime,
    robot: str,
    location: str | None,
    claimant: str,
) -> tuple[int, Intent | None]:
    """The keyed-in pack and its decommission intent (when one can hold it), claimed by this
    command and its attempt counted before it is sent: one transaction."""
    ui = entry_ui(entry, at.year) if to is not None else None
    with store.batch():
        token = store.record_keyed_in(entry_text(entry), entry, message=message, at=at, robot=robot)
        if ui is None:
            return token, None
        intent = store.queue_intent(token, ui, HubOperation.DECOMMISSION, to, trx=trx, at=at,
                                    location=location, claimed_by=claimant)  # fmt: skip
        store.note_sending([intent.id], at=at)
        return token, intent


def _intent_status(intent: Intent | None, result: HubResult | None) -> IntentStatus | None:
    """The decommission intent's status after the hub's answer: pending while it may have
    landed unseen (no answer, a technical one) or was not processed (throttled)."""
    if intent is None:
        return None
    if result is None or result.outcome in ("technical", "rate_limited"):
        return IntentStatus.PENDING
    return settle_status(intent, result)


def _flag(
    to: Reason | None, intent: Intent | None, result: HubResult | None, trx: str
) -> str | None:
    """What the operator must look at, if anything: an alert, or a decommission that may have
    landed unseen and that no intent will settle."""
    if result is not None and result.alert:
        return f"the hub raised alert {result.alert_id}: quarantine the pack"
    unseen = result is None or result.outcome == "technical"
    if to is not None and intent is None and unseen:
        return (
            f"no answer to the {to} under trx {trx}: it may have landed; verify the pack with "
            "its batch and expiry before sending it again"
        )
    return None


def _record_answer(
    store: Store,
    token: int,
    entry: ManualEntry,
    to: Reason | None,
    trx: str,
    intent: Intent | None,
    answer: _Answer,
    latency_s: float,
    at: datetime,
) -> None:
    """The hub's answer, the intent's new status and the flag: one transaction."""
    result = answer.result
    with store.batch():
        store.record_verification(token, "manual", entry, trx, result, error=answer.error,
                                  latency_s=latency_s, at=at, reason=to)  # fmt: skip
        if intent is not None and answer.intent is not None:
            code = result.return_code if result is not None else None
            store.settle_intent(intent.id, answer.intent, code, at=at, counted=True)
        if answer.flag is not None:
            store.flag(token, answer.flag, at=at)


def _product_code_problem(scheme: Scheme, code: str) -> str | None:
    if scheme == "GTIN" and (len(code) != 14 or not is_digits(code)):
        return f"the GTIN {code!r} is not 14 digits"
    if scheme == "GTIN" and not is_valid_gtin(code):
        return f"the GTIN {code} has a wrong check digit"
    if scheme == "PPN" and not is_ppn_format(code):
        return f"the PPN {code!r} is not 4-22 capital letters or digits ending in two check digits"
    if scheme == "PPN" and not is_valid_ppn(code):
        return f"the PPN {code} has wrong check digits"
    pzn = pzn_in_product_code(code)
    if pzn is not None and not is_valid_pzn(pzn):
        return f"the PZN {pzn} in {scheme} {code} has a wrong check digit"
    return None


def _expiry_problem(expiry: str | None, this_year: int) -> str | None:
    if expiry is None or parse_yymmdd(expiry, this_year).value is not None:
        return None
    return f"the expiry {expiry!r} is not a date as printed (YYMMDD, day 00 for none)"


def _text_problem(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_TEXT_LENGTH:
        return f"the {name} {value!r} is not 1-{MAX_TEXT_LENGTH} characters"
    if not is_cset82(value):
        return f"the {name} {value!r} holds {non_cset82(value)!r}, not in GS1 CSET 82"
    return None

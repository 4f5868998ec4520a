"""Returns (`robot_controller.returns`, `pipeline.returns`): a pack this site dispensed comes
back. The rules, table by table, from the log's view and the hub's answer; then end to end, a
WWKS2 robot simulator over TCP asking with IsNewDelivery False, a real store and a MockHub."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from fmd.codes.model import PackIdentifier
from fmd.hub import Reason
from fmd.hub.contract import HubResult, Outcome, PackState
from fmd.policy import Action, Decision, Mode, Why
from robot_controller.returns import Logged, Undo, after_undo, after_verify, before_hub
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import Intent
from tests.support.packs import hub_pack

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HERE = "pharmacy-1"
UI = PackIdentifier("GTIN", "09506000134352", "RET1", "B1", date(2028, 12, 31), "281231")
DECOMMISSION, UNDO, VERIFY = HubOperation.DECOMMISSION, HubOperation.UNDO, HubOperation.VERIFY
DONE, PENDING, FAILED = IntentStatus.DONE, IntentStatus.PENDING, IntentStatus.FAILED
MODES: tuple[Mode, ...] = ("hospital", "community")


def change(
    operation: HubOperation = DECOMMISSION,
    reason: Reason = Reason.SUPPLIED,
    status: IntentStatus = DONE,
    *,
    n: int = 1,
    hours_ago: float = 1,
    location: str | None = HERE,
    expiry_raw: str = "281231",
) -> Intent:
    at = NOW - timedelta(hours=hours_ago)
    ui = hub_pack("RET1", expiry_raw=expiry_raw)
    return Intent(n, 7, operation, reason, f"trx-{n}", ui, status, 1, at, location=location)


def logged(*history: Intent, on_shelf: bool = False, pending: bool = False) -> Logged:
    return Logged(True, on_shelf, pending, history)


SUPPLIED = change()
UNDONE = (change(n=1), change(UNDO, n=2, hours_ago=0.5))

# the log's view → the refusal before the hub, the same in both modes
REFUSED_BY_THE_LOG = [
    (logged(SUPPLIED, on_shelf=True), Action.QUARANTINE, Why.DUPLICATE),
    (logged(SUPPLIED, pending=True), Action.REJECT, Why.RETURN_NOT_YET),
    (Logged(False, False, False), Action.REJECT, Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(), Action.REJECT, Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(change(status=FAILED)), Action.REJECT, Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(change(VERIFY, status=DONE)), Action.REJECT, Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(change(reason=Reason.STOLEN)), Action.REJECT, Why.RETURN_STOLEN),
    (logged(change(reason=Reason.DESTROYED)), Action.REJECT, Why.RETURN_DESTROYED),
    (logged(change(reason=Reason.LOCKED)), Action.REJECT, Why.RETURN_REFUSED),
    (logged(change(reason=Reason.SAMPLE)), Action.REJECT, Why.RETURN_REFUSED),
    (logged(change(location="elsewhere")), Action.REJECT, Why.RETURN_OTHER_PREMISES),
    (logged(change(expiry_raw="261130")), Action.REJECT, Why.RETURN_EXPIRED),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("view", "action", "why"), REFUSED_BY_THE_LOG)
def test_the_log_alone_refuses_a_return_art_13_or_the_log_forbids(
    mode: Mode, view: Logged, action: Action, why: Why
) -> None:
    decision = before_hub(view, UI, mode=mode, location=HERE, now=NOW)
    assert decision is not None
    assert (decision.action, decision.why) == (action, why)


@pytest.mark.parametrize("mode", MODES)
def test_an_expired_code_is_refused_before_anything_else_is_asked(mode: Mode) -> None:
    expired = PackIdentifier("GTIN", UI.product_code, "RET1", "B1", date(2026, 11, 30), "261130")
    decision = before_hub(logged(SUPPLIED), expired, mode=mode, location=HERE, now=NOW)
    assert decision is not None
    assert decision.why is Why.RETURN_EXPIRED


# what differs by mode: (the log, mode) → refused (why) or None (ask the hub)
BY_MODE = [
    (logged(SUPPLIED), "hospital", None),
    (logged(SUPPLIED), "community", None),
    (logged(change(hours_ago=239.9)), "community", None),
    (logged(change(hours_ago=240.1)), "community", Why.RETURN_PAST_WINDOW),
    (logged(change(hours_ago=240.1)), "hospital", None),  # it stays supplied: no undo
    (logged(change(hours_ago=24 * 400)), "hospital", None),
    (logged(*UNDONE), "community", None),  # undone since: the hub is asked, active is fine
    (logged(*UNDONE), "hospital", Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(change(location=None)), "community", None),  # from before premises were kept
]


@pytest.mark.parametrize(("view", "mode", "why"), BY_MODE)
def test_a_return_goes_to_the_hub_as_its_mode_and_the_240_hours_allow(
    view: Logged, mode: Mode, why: Why | None
) -> None:
    decision = before_hub(view, UI, mode=mode, location=HERE, now=NOW)
    assert (decision.why if decision else None) is why


def answer(
    state: PackState = PackState.INACTIVE,
    *reasons: Reason,
    outcome: Outcome = "ok",
    code: str = "NMVS_SUCCESS",
    alert: str | None = None,
) -> HubResult:
    return HubResult(outcome, code, state, reasons or (Reason.SUPPLIED,), alert_id=alert)


ACTIVE = HubResult("ok", "NMVS_SUCCESS", PackState.ACTIVE)
SUPPLIED_AT_HUB = answer()

# (the log, the hub's verify answer, mode) → accepted, refused (action, why) or the undo
AFTER_VERIFY: list[tuple[Logged, HubResult | None, Mode, tuple[Action, Why] | str]] = [
    (logged(SUPPLIED), SUPPLIED_AT_HUB, "hospital", (Action.SHELVE, Why.RETURN_ACCEPTED)),
    (logged(SUPPLIED), SUPPLIED_AT_HUB, "community", "undo"),
    (logged(SUPPLIED), ACTIVE, "hospital", (Action.REJECT, Why.RETURN_REFUSED)),
    (logged(SUPPLIED), ACTIVE, "community", (Action.REJECT, Why.RETURN_REFUSED)),
    (
        logged(SUPPLIED),
        answer(PackState.INACTIVE, Reason.DESTROYED),
        "hospital",
        (Action.REJECT, Why.RETURN_REFUSED),
    ),
    (logged(*UNDONE), ACTIVE, "community", (Action.SHELVE, Why.RETURN_ACCEPTED)),
    (logged(*UNDONE), SUPPLIED_AT_HUB, "community", (Action.REJECT, Why.RETURN_REFUSED)),
]
# the hub's answers that refuse a return whatever the log and the mode
HUB_REFUSES = [
    (None, Action.REJECT, Why.RETURN_NOT_YET),
    (answer(outcome="technical", code="NMVS_TE_01"), Action.REJECT, Why.RETURN_NOT_YET),
    (answer(outcome="rate_limited", code="429"), Action.REJECT, Why.RETURN_NOT_YET),
    (answer(outcome="login_failed", code="NMVS_FE_LOG_01"), Action.REJECT, Why.HUB_LOGIN_FAILED),
    (answer(outcome="alert", code="NMVS_NC_PCK_19", alert="A1"), Action.QUARANTINE, Why.ALERT),
    (
        answer(PackState.INACTIVE, Reason.SUPPLIED, Reason.EXPIRED),
        Action.REJECT,
        Why.RETURN_EXPIRED,
    ),
    (
        answer(PackState.INACTIVE, Reason.SUPPLIED, Reason.RECALLED),
        Action.REJECT,
        Why.RETURN_RECALLED,
    ),
    (
        answer(PackState.INACTIVE, Reason.SUPPLIED, Reason.WITHDRAWN),
        Action.REJECT,
        Why.WITHDRAWN,
    ),
    (answer(outcome="refused", code="NMVS_NC_PC_02"), Action.REJECT, Why.RETURN_REFUSED),
]
AFTER_VERIFY += [
    (view, result, mode, (action, why))
    for result, action, why in HUB_REFUSES
    for view in (logged(SUPPLIED), logged(*UNDONE))
    for mode in MODES
]


@pytest.mark.parametrize(("view", "result", "mode", "expected"), AFTER_VERIFY)
def test_the_hubs_answer_accepts_refuses_or_asks_for_the_undo(
    view: Logged, result: HubResult | None, mode: Mode, expected: tuple[Action, Why] | str
) -> None:
    verdict = after_verify(view, result, mode=mode)
    if expected == "undo":
        assert verdict == Undo(SUPPLIED)
    else:
        assert isinstance(verdict, Decision)
        assert (verdict.action, verdict.why) == expected


@pytest.mark.parametrize(
    ("status", "action", "why"),
    [
        (DONE, Action.SHELVE, Why.RETURN_ACCEPTED),
        (PENDING, Action.REJECT, Why.RETURN_NOT_YET),
        (FAILED, Action.REJECT, Why.RETURN_REFUSED),
        (IntentStatus.FLAGGED, Action.REJECT, Why.RETURN_PAST_WINDOW),
        (IntentStatus.CANCELLED, Action.REJECT, Why.RETURN_REFUSED),
    ],
)
def test_the_undo_as_the_outbox_left_it_decides_the_return(
    status: IntentStatus, action: Action, why: Why
) -> None:
    decision = after_undo(change(UNDO, status=status, n=2))
    assert (decision.action, decision.why) == (action, why)

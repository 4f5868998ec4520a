"""The loading policy: where each pack goes, and why."""

from __future__ import annotations

from datetime import date

import pytest

from fmd.codes.model import PackIdentifier, ParsedScan, Problem, ProblemCode
from fmd.hub.contract import HubResult, PackState, Reason
from fmd.policy import Action, Decision, SitePolicy, Why, decide, settle_decommission

TODAY = date(2026, 11, 26)
HOSPITAL = SitePolicy(mode="hospital")
COMMUNITY = SitePolicy(mode="community")
UI = PackIdentifier("GTIN", "09506000134352", "SN123", "B1", date(2028, 1, 31), "280131")


def scan(ui: PackIdentifier | None = UI, *problems: Problem, submit: bool = True) -> ParsedScan:
    return ParsedScan(
        raw="",
        format="gs1",
        symbology=None,
        ui=ui,
        submit=submit and ui is not None,
        problems=problems,
        product_code=ui.product_code if ui else "09506000134352",
    )


def answer(
    code: str = "NMVS_SUCCESS",
    outcome: str = "ok",
    state: PackState = PackState.ACTIVE,
    *reasons: Reason,
) -> HubResult:
    return HubResult(outcome=outcome, return_code=code, state=state, reasons=reasons)  # type: ignore[arg-type]


def test_hospital_shelves_an_active_pack_only_after_decommissioning_it_as_supplied() -> None:
    decision = decide(scan(), answer(), HOSPITAL, today=TODAY)
    assert decision.action is Action.SHELVE
    assert decision.decommission_to is Reason.SUPPLIED


def test_community_shelves_an_active_pack_after_verify_alone() -> None:
    decision = decide(scan(), answer(), COMMUNITY, today=TODAY)
    assert (decision.action, decision.why, decision.decommission_to) == (
        Action.SHELVE,
        Why.VERIFIED,
        None,
    )


@pytest.mark.parametrize(
    ("result", "why"),
    [
        (answer("NMVS_NC_PC_02", "alert", PackState.UNKNOWN), Why.ALERT),
        (answer("NMVS_FE_LOT_13", "alert"), Why.ALERT),
        (answer("NMVS_NC_PC_01", "refused", PackState.UNKNOWN), Why.UNKNOWN_PRODUCT),
        (answer("NMVS_FE_LOT_01", "refused", PackState.INACTIVE, Reason.RECALLED), Why.RECALLED),
        (answer("NMVS_FE_LOT_08", "refused", PackState.INACTIVE, Reason.WITHDRAWN), Why.WITHDRAWN),
        (answer("NMVS_SUCCESS", "ok", PackState.INACTIVE, Reason.SUPPLIED), Why.INACTIVE),
        (answer("NMVS_FE_GR_01", "invalid_request", PackState.UNKNOWN), Why.INVALID_REQUEST),
    ],
)
def test_anything_that_might_be_falsified_goes_to_quarantine(result: HubResult, why: Why) -> None:
    for site in (HOSPITAL, COMMUNITY):
        decision = decide(scan(), result, site, today=TODAY)
        assert (decision.action, decision.why) == (Action.QUARANTINE, why)
        assert decision.decommission_to is None


def test_an_expired_pack_is_rejected_without_asking_the_hub() -> None:
    expired = PackIdentifier("GTIN", UI.product_code, "S", "B", date(2026, 10, 31), "261031")
    decision = decide(scan(expired), None, HOSPITAL, today=TODAY)
    assert (decision.action, decision.why) == (Action.REJECT, Why.EXPIRED)


def test_a_pack_expiring_today_is_still_good() -> None:
    today = PackIdentifier("GTIN", UI.product_code, "S", "B", TODAY, "261126")
    assert decide(scan(today), answer(), COMMUNITY, today=TODAY).action is Action.SHELVE


def test_the_hub_saying_expired_rejects_the_pack() -> None:
    result = answer("NMVS_NC_PCK_02", "refused", PackState.INACTIVE, Reason.EXPIRED)
    decision = decide(scan(), result, HOSPITAL, today=TODAY)
    assert (decision.action, decision.why) == (Action.REJECT, Why.EXPIRED)


def test_an_expiry_that_is_no_date_is_quarantined() -> None:
    bad = PackIdentifier("GTIN", UI.product_code, "S", "B", None, "261340")
    decision = decide(scan(bad), answer(), HOSPITAL, today=TODAY)
    assert (decision.action, decision.why) == (Action.QUARANTINE, Why.EXPIRY_INVALID)


def test_an_unreadable_scan_goes_back_to_the_operator() -> None:
    problem = Problem(ProblemCode.MISSING_SERIAL, "error", "no serial number (AI 21)")
    decision = decide(scan(None, problem), None, HOSPITAL, today=TODAY)
    assert (decision.action, decision.why) == (Action.REJECT, Why.UNREADABLE)
    assert decision.message == problem.message


def test_a_damaged_scan_is_rejected_for_a_rescan_even_with_a_complete_ui() -> None:
    damage = Problem(ProblemCode.CAPS_LOCK, "error", "Caps Lock is on")
    decision = decide(scan(UI, damage, submit=False), None, HOSPITAL, today=TODAY)
    assert (decision.action, decision.why) == (Action.REJECT, Why.DAMAGED_SCAN)


@pytest.mark.parametrize(
    ("setting", "action"), [("reject", Action.REJECT), ("shelve", Action.SHELVE)]
)
def test_packs_without_a_serial_follow_the_site_setting(setting: str, action: Action) -> None:
    plain = scan(None, Problem(ProblemCode.NOT_SERIALISED, "warning", "a plain GTIN"))
    site = SitePolicy(non_serialised=setting)  # type: ignore[arg-type]
    decision = decide(plain, None, site, today=TODAY)
    assert (decision.action, decision.why) == (action, Why.NOT_SERIALISED)


def test_a_ui_already_on_the_shelf_is_quarantined_as_a_possible_clone() -> None:
    decision = decide(scan(), answer(), COMMUNITY, today=TODAY, already_in_stock=True)
    assert (decision.action, decision.why) == (Action.QUARANTINE, Why.DUPLICATE)


@pytest.mark.parametrize(
    "result",
    [
        None,
        answer("NMVS_TI_TO_01", "technical", PackState.UNKNOWN),
        answer("NMVS_FI_SE_CLI_01", "rate_limited", PackState.UNKNOWN),
    ],
)
def test_hub_unavailable_quarantines_by_default(result: HubResult | None) -> None:
    decision = decide(scan(), result, HOSPITAL, today=TODAY)
    assert (decision.action, decision.why) == (Action.QUARANTINE, Why.HUB_UNAVAILABLE)
    assert decision.verify_later


def test_shelve_then_verify_shelves_offline_and_asks_for_a_later_check() -> None:
    site = SitePolicy(offline="shelve_then_verify")
    decision = decide(scan(), None, site, today=TODAY)
    assert (decision.action, decision.why, decision.verify_later) == (
        Action.SHELVE,
        Why.SHELVED_UNVERIFIED,
        True,
    )


def test_shelve_then_verify_never_shelves_an_expired_pack() -> None:
    expired = PackIdentifier("GTIN", UI.product_code, "S", "B", date(2020, 1, 31), "200131")
    site = SitePolicy(offline="shelve_then_verify")
    assert decide(scan(expired), None, site, today=TODAY).action is Action.REJECT


SHELVE_AFTER = Decision(Action.SHELVE, Why.VERIFIED, decommission_to=Reason.SUPPLIED)


def test_a_successful_decommission_shelves_the_pack() -> None:
    result = answer("NMVS_SUCCESS", "ok", PackState.INACTIVE, Reason.SUPPLIED)
    decision = settle_decommission(SHELVE_AFTER, result, HOSPITAL)
    assert (decision.action, decision.why) == (Action.SHELVE, Why.DECOMMISSIONED)


def test_a_decommission_alert_quarantines_the_pack() -> None:
    result = answer("NMVS_NC_PCK_22", "alert", PackState.INACTIVE, Reason.SUPPLIED)
    decision = settle_decommission(SHELVE_AFTER, result, HOSPITAL)
    assert (decision.action, decision.why) == (Action.QUARANTINE, Why.ALERT)


def test_a_decommission_without_an_answer_follows_the_offline_policy() -> None:
    decision = settle_decommission(SHELVE_AFTER, None, HOSPITAL)
    assert (decision.action, decision.why) == (Action.QUARANTINE, Why.HUB_UNAVAILABLE)


def test_an_ok_answer_that_did_not_set_the_reason_is_not_trusted() -> None:
    result = answer("NMVS_SUCCESS", "ok", PackState.ACTIVE)
    decision = settle_decommission(SHELVE_AFTER, result, HOSPITAL)
    assert (decision.action, decision.why) == (Action.QUARANTINE, Why.DECOMMISSION_FAILED)

"""What a person may do to one pack at the hub, judged from the log alone (`pack_rules`): each
Art. 13 refusal with its reason, a second decommission refused, the undo deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fmd.hub import Reason
from robot_controller.pack_rules import (
    ActionRefused,
    PackAction,
    plan,
    standing_decommission,
    time_left,
    undo_deadline,
    undo_deadlines_due,
)
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store import Intent
from robot_controller.store.records import KnownPack
from tests.support.packs import hub_pack

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HERE = "hospital-pharmacy-1"
PACK = hub_pack("RULES1", expiry_raw="281231")
DECOMMISSION, CONFIRM, UNDO = HubOperation.DECOMMISSION, HubOperation.CONFIRM, HubOperation.UNDO
DONE, PENDING, FAILED = IntentStatus.DONE, IntentStatus.PENDING, IntentStatus.FAILED


def change(
    operation: HubOperation,
    reason: Reason = Reason.SUPPLIED,
    status: IntentStatus = DONE,
    *,
    n: int = 1,
    token: int = 1,
    at: datetime = NOW - timedelta(hours=1),
    location: str | None = HERE,
    expiry_raw: str = "281231",
) -> Intent:
    ui = hub_pack("RULES1", expiry_raw=expiry_raw)
    return Intent(n, token, operation, reason, f"trx-{n}", ui, status, 1, at, location=location)


def known(*history: Intent, token: int = 1, route: Route | None = Route.RETURNED) -> KnownPack:
    return KnownPack(token, route, PACK, history)


def refusal(action: PackAction, pack: KnownPack | None, *, now: datetime = NOW) -> str:
    with pytest.raises(ActionRefused) as refused:
        plan(action, pack, scanned=None, location=HERE, now=now)
    return str(refused.value)


@pytest.mark.parametrize(
    "history",
    [
        (),
        (change(DECOMMISSION, status=FAILED),),
        (change(DECOMMISSION), change(UNDO, n=2)),  # undone already
    ],
    ids=["none", "refused-by-the-hub", "undone-already"],
)
def test_an_undo_needs_a_decommission_of_ours_that_stands(history: tuple[Intent, ...]) -> None:
    assert "no decommission of ours stands" in refusal(PackAction.UNDO, known(*history))


def test_an_undo_is_refused_for_a_pack_decommissioned_at_other_premises() -> None:
    other = known(change(DECOMMISSION, location="ward-9"))
    assert "decommissioned at ward-9, not here" in refusal(PackAction.UNDO, other)


def test_a_decommission_from_before_locations_were_kept_counts_as_this_sites() -> None:
    planned = plan(PackAction.UNDO, known(change(DECOMMISSION, location=None)), scanned=None,
                   location=HERE, now=NOW)  # fmt: skip
    assert (planned.operation, planned.reason) == (UNDO, Reason.SUPPLIED)


@pytest.mark.parametrize("reason", [Reason.STOLEN, Reason.DESTROYED])
def test_no_undo_leaves_stolen_or_destroyed(reason: Reason) -> None:
    says = refusal(PackAction.UNDO, known(change(DECOMMISSION, reason)))
    assert f"decommissioned as {reason}: Art. 13 allows no undo" in says


def test_an_undo_after_240_hours_is_refused() -> None:
    old = known(change(DECOMMISSION, at=NOW - timedelta(hours=240, minutes=1)))
    says = refusal(PackAction.UNDO, old)
    assert "more than 240 h ago" in says
    assert "must not return to stock" in says


def test_a_lock_has_no_time_limit() -> None:
    locked = known(change(DECOMMISSION, Reason.LOCKED, at=NOW - timedelta(days=400)))
    planned = plan(PackAction.UNLOCK, locked, scanned=None, location=HERE, now=NOW)
    assert (planned.operation, planned.reason, planned.deadline) == (UNDO, Reason.LOCKED, None)


def test_an_expired_pack_is_never_undone() -> None:
    expired = known(change(DECOMMISSION, expiry_raw="261100"))  # end of November 2026
    assert "is expired (261100)" in refusal(PackAction.UNDO, expired)


def test_unlock_undoes_a_lock_and_nothing_else() -> None:
    assert "is not locked: its decommission here is SUPPLIED" in refusal(
        PackAction.UNLOCK, known(change(DECOMMISSION))
    )


def test_the_undo_goes_on_the_token_and_identifier_of_the_decommission_it_undoes() -> None:
    decommission = change(DECOMMISSION, Reason.SAMPLE, token=3, at=NOW - timedelta(hours=230))
    planned = plan(PackAction.UNDO, known(decommission, token=7), scanned=None, location=HERE,
                   now=NOW)  # fmt: skip
    assert (planned.token, planned.ui, planned.reason) == (3, decommission.ui, Reason.SAMPLE)
    assert planned.deadline == decommission.created_at + timedelta(hours=240)


def test_an_action_on_a_pack_the_log_has_on_the_shelf_says_so() -> None:
    on_shelf = known(change(DECOMMISSION), route=Route.SHELVED)
    assert plan(PackAction.UNDO, on_shelf, scanned=None, location=HERE, now=NOW).shelved
    assert plan(PackAction.LOCK, known(route=Route.SHELVED), scanned=None, location=HERE,
                now=NOW).shelved  # fmt: skip
    assert not plan(PackAction.LOCK, known(), scanned=None, location=HERE, now=NOW).shelved


def test_a_confirm_that_landed_is_a_decommission_that_stands() -> None:
    assert standing_decommission([change(CONFIRM)]) == change(CONFIRM)
    assert standing_decommission([change(CONFIRM, status=IntentStatus.CANCELLED)]) is None


@pytest.mark.parametrize("action", [PackAction.DESTROY, PackAction.STOLEN, PackAction.LOCK])
def test_a_second_decommission_is_refused_while_one_stands(action: PackAction) -> None:
    says = refusal(action, known(change(DECOMMISSION)))
    assert "decommissioned here already (SUPPLIED)" in says
    assert "undo it first" in says


def test_a_pack_with_a_change_waiting_or_still_being_loaded_is_refused() -> None:
    waiting = known(change(DECOMMISSION, Reason.LOCKED, PENDING))
    assert "still waits in the outbox" in refusal(PackAction.UNLOCK, waiting)
    assert "has no route yet" in refusal(PackAction.DESTROY, known(route=None))


def test_a_pack_never_seen_here_needs_its_scan_and_has_nothing_to_undo() -> None:
    assert "give its scan (--scan RAW)" in refusal(PackAction.DESTROY, None)
    assert "no decommission of ours to undo" in refusal(PackAction.UNDO, None)
    planned = plan(PackAction.EXPORT, None, scanned=PACK, location=HERE, now=NOW)
    assert (planned.token, planned.operation, planned.reason) == (
        None, DECOMMISSION, Reason.EXPORTED,
    )  # fmt: skip


def test_a_pack_seen_without_batch_and_expiry_needs_its_scan() -> None:
    keyed = KnownPack(4, Route.RETURNED, None, ())
    assert "seen without its batch and expiry" in refusal(PackAction.SAMPLE, keyed)
    planned = plan(PackAction.SAMPLE, keyed, scanned=PACK, location=HERE, now=NOW)
    assert (planned.token, planned.ui) == (4, PACK)


def test_the_undo_deadlines_due_are_the_flagged_packs_with_less_than_24_hours_left() -> None:
    soon = NOW - timedelta(hours=230)
    changes = [
        change(DECOMMISSION, token=1, at=soon),  # 10 h left
        change(DECOMMISSION, token=2, at=NOW - timedelta(hours=200)),  # 40 h left
        change(DECOMMISSION, token=3, at=soon, n=3),
        change(UNDO, token=3, n=4),  # undone
        change(DECOMMISSION, Reason.LOCKED, token=4, at=soon),  # no limit
        change(DECOMMISSION, Reason.DESTROYED, token=5, at=soon),  # no undo from it
        change(DECOMMISSION, token=6, at=soon, location="ward-9"),  # not ours to undo
    ]
    assert undo_deadlines_due(changes, location=HERE, now=NOW) == {1: soon + timedelta(hours=240)}


def test_the_deadline_is_240_hours_after_the_decommission_and_time_left_is_in_words() -> None:
    decommission = change(DECOMMISSION, at=NOW)
    assert undo_deadline(decommission) == NOW + timedelta(hours=240)
    assert time_left(NOW + timedelta(hours=5, minutes=12, seconds=30), NOW) == "5 h 12 min"
    assert time_left(NOW - timedelta(hours=1), NOW) == "0 h 0 min"

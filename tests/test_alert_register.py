"""The alert register and the quarantine inventory, on SQLite and PostgreSQL: every hub alert
opens a case; open → investigating → closed (with a cause), each transition one audit event;
anything else refused with what is allowed, changing nothing."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from fmd.codes.model import ParsedScan
from fmd.hub.contract import Reason
from fmd.policy import Action, Decision, Why
from robot_controller.alert_cases import (
    AlertCase,
    AlertCause,
    AlertState,
    TransitionRefused,
    transition,
)
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobReason, JobResult
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import Store
from robot_controller.store.schema import alert_transitions, audit_events
from scanners.base import Scan
from tests.support.alerts import raise_alert
from tests.support.packs import GTIN, hub_pack
from tests.support.until import until

AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
PREMISES = "ward-7"


def counts(store: Store) -> tuple[int, int]:
    """(audit events, transition rows)."""
    with store.engine.connect() as conn:
        events = conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one()
        steps = conn.execute(sa.select(sa.func.count()).select_from(alert_transitions))
        return int(events), int(steps.scalar_one())


@pytest.fixture
def premises_store(store_url: str) -> Iterator[Store]:
    """A store opened as the daemon at `PREMISES` opens it."""
    opened = Store.open(store_url, location=PREMISES)
    try:
        yield opened
    finally:
        opened.close()


def test_a_hub_alert_opens_a_case_naming_the_pack_and_the_premises(premises_store: Store) -> None:
    ui = hub_pack("S1", batch="B7", expiry_raw="281130")
    token = raise_alert(premises_store, ui, 1)
    [case] = premises_store.alert_cases()
    assert (case.token, case.alert_id, case.return_code) == (token, "ALR-1", "NMVS_NC_PC_02")
    assert (case.product_code, case.serial, case.batch) == (ui.product_code, "S1", "B7")
    assert (case.location, case.raised_at, case.state, case.cause) == (
        PREMISES, AT, AlertState.OPEN, None
    )  # fmt: skip
    assert premises_store.alert_case(case.id) == (case, [])


def test_an_accepted_transition_is_its_row_and_one_audit_event_with_before_and_after(
    premises_store: Store,
) -> None:
    raise_alert(premises_store, hub_pack("S1"), 1)
    later = AT + timedelta(hours=2)
    premises_store.move_alert(1, "investigating", reason="rescanning", actor="ann", at=AT)
    why = "our double scan, undone"
    closed = premises_store.move_alert(
        1, "closed", cause="undone-within-window", reason=why, actor="bob", at=later
    )
    assert (closed.state, closed.cause, closed.updated_at) == (
        AlertState.CLOSED, AlertCause.UNDONE_WITHIN_WINDOW, later
    )  # fmt: skip
    found = premises_store.alert_case(1)
    assert found is not None
    case, steps = found
    assert case == closed
    assert [(s.from_state, s.to_state, s.cause, s.actor, s.reason, s.at) for s in steps] == [
        ("open", "investigating", None, "ann", "rescanning", AT),
        ("investigating", "closed", "undone-within-window", "bob", "our double scan, undone",
         later),
    ]  # fmt: skip
    with premises_store.engine.connect() as conn:
        last = conn.execute(sa.select(audit_events).order_by(audit_events.c.id.desc())).first()
    assert last is not None
    assert (last.actor, last.action, last.subject, last.why) == (
        "bob", "alert.closed", "alert:1", "our double scan, undone"
    )  # fmt: skip
    assert json.loads(last.before) == {"state": "investigating", "cause": None}
    assert json.loads(last.after) == {"state": "closed", "cause": "undone-within-window"}
    assert premises_store.check_audit_chain().ok


def test_the_register_lists_cases_by_state_in_the_order_they_were_opened(store: Store) -> None:
    for n in (1, 2, 3):
        raise_alert(store, hub_pack(f"S{n}"), n)
    store.move_alert(2, "closed", cause="reported-to-authority", reason="tampered seal",
                     actor="ann", at=AT)  # fmt: skip
    assert [c.id for c in store.alert_cases()] == [1, 2, 3]
    assert [c.id for c in store.alert_cases(AlertState.OPEN)] == [1, 3]
    assert [c.id for c in store.alert_cases(AlertState.CLOSED)] == [2]
    assert store.alert_cases(AlertState.INVESTIGATING) == []
    assert store.alert_case(4) is None


def _case(state: AlertState) -> AlertCase:
    cause = AlertCause.RETURNED_TO_SUPPLIER if state is AlertState.CLOSED else None
    return AlertCase(7, 1, "ALR-1", "NMVS_NC_PC_02", "", AT, state, cause, None, "P", "S", "B", "x")


@pytest.mark.parametrize(
    ("state", "to", "cause", "reason", "actor", "says"),
    [
        ("closed", "investigating", None, "r", "a",
         "alert 7 is closed (returned-to-supplier): a closed case is final"),
        ("closed", "open", None, "r", "a", "a closed case is final"),
        ("investigating", "open", None, "r", "a",
         "alert 7 is investigating: it can go to closed, not 'open'"),
        ("open", "open", None, "r", "a",
         "alert 7 is open: it can go to investigating or closed, not 'open'"),
        ("open", "shelved", None, "r", "a", "it can go to investigating or closed, not 'shelved'"),
        ("open", "closed", None, "r", "a",
         "closing alert 7 needs a cause (--cause): scanner-or-process-error, "
         "undone-within-window, reported-to-authority, returned-to-supplier"),
        ("open", "closed", "lost", "r", "a", "'lost' is not a closing cause: scanner-or-process"),
        ("open", "investigating", "reported-to-authority", "r", "a",
         "a cause is given only when closing, not going to investigating"),
        ("open", "investigating", None, "  ", "a", "a transition needs a reason (--reason TEXT)"),
        ("open", "investigating", None, "r", "",
         "a transition needs the name of who makes it (--actor NAME)"),
    ],
)  # fmt: skip
def test_a_transition_the_register_does_not_allow_is_refused_naming_what_is(
    state: AlertState, to: str, cause: str | None, reason: str, actor: str, says: str
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(_case(AlertState(state)), to, cause=cause, reason=reason, actor=actor, at=AT)
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_closed_alert_cannot_be_reopened(store: Store) -> None:
    raise_alert(store, hub_pack("S1"), 1)
    store.move_alert(1, "closed", cause="scanner-or-process-error", reason="Caps Lock",
                     actor="ann", at=AT)  # fmt: skip
    before = counts(store)
    for to in AlertState:
        with pytest.raises(TransitionRefused, match="a closed case is final"):
            store.move_alert(1, to, reason="second thoughts", actor="bob", at=AT)
    assert counts(store) == before


def test_an_unknown_alert_is_refused(store: Store) -> None:
    with pytest.raises(TransitionRefused, match="there is no alert 9 in the register"):
        store.move_alert(9, "investigating", reason="r", actor="a", at=AT)
    assert counts(store) == (0, 0)


# -- the workflow as a state machine over a real store ----------------------------------

ALLOWED = {"open": {"investigating", "closed"}, "investigating": {"closed"}, "closed": set()}
"""The model's transitions, written out here rather than taken from the rules it checks."""
TARGETS = st.sampled_from([*AlertState, "escalated"])
CAUSES = st.sampled_from([None, None, *AlertCause, "other"])
REASONS = st.sampled_from(["rescanned with another scanner", "photos sent to the MAH", "", " "])
ACTORS = st.sampled_from(["ann", "bob", "carl", ""])


class AlertWorkflow(RuleBasedStateMachine):
    """Random transitions against a model: the store agrees with it after every step, a refused
    one changes nothing, an accepted one is one audit event and one transition row."""

    store: Store  # set by the test (one store for every run: each run opens its own cases)
    seen: Counter[str]  # accepted transitions by target state, and refusals (set by the test)
    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[int, tuple[AlertState, AlertCause | None]] = {}
        self.clock = AT

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    @rule(target=cases)
    def hub_raises_an_alert(self) -> int:
        n = len(self.store.alert_cases()) + 1
        raise_alert(self.store, hub_pack(f"S{n}"), n, self.tick())
        [case] = [c for c in self.store.alert_cases() if c.alert_id == f"ALR-{n}"]
        self.model[case.id] = (AlertState.OPEN, None)
        return case.id

    @rule(alert=cases, to=st.sampled_from(AlertState), cause=st.sampled_from(AlertCause),
          reason=REASONS.filter(str.strip), actor=ACTORS.filter(str.strip))  # fmt: skip
    def someone_moves_a_case_as_the_form_asks(
        self, alert: int, to: AlertState, cause: AlertCause, reason: str, actor: str
    ) -> None:
        self.attempt(alert, to, cause if to is AlertState.CLOSED else None, reason, actor)

    @rule(alert=st.one_of(cases, st.just(10**6)), to=TARGETS, cause=CAUSES, reason=REASONS,
          actor=ACTORS)  # fmt: skip
    def someone_asks_for_anything(
        self, alert: int, to: str, cause: str | None, reason: str, actor: str
    ) -> None:
        self.attempt(alert, to, cause, reason, actor)

    def attempt(self, alert: int, to: str, cause: str | None, reason: str, actor: str) -> None:
        """Move a case; the store must accept exactly what the model allows."""
        state, _ = self.model.get(alert, (None, None))
        allowed = (
            state is not None
            and to in ALLOWED[state]
            and (cause in set(AlertCause) if to == AlertState.CLOSED else cause is None)
            and reason.strip() != ""
            and actor.strip() != ""
        )
        before = counts(self.store)
        at = self.tick()
        try:
            moved = self.store.move_alert(alert, to, cause=cause, reason=reason, actor=actor, at=at)
        except TransitionRefused:
            assert not allowed
            assert counts(self.store) == before
            self.seen["refused"] += 1
            return
        assert allowed
        self.seen[to] += 1
        events, steps = before
        assert counts(self.store) == (events + 1, steps + 1)
        self.model[alert] = (AlertState(to), None if cause is None else AlertCause(cause))
        assert (moved.state, moved.cause, moved.updated_at) == (*self.model[alert], at)

    @invariant()
    def the_store_agrees_with_the_model(self) -> None:
        ours = {c.id: (c.state, c.cause) for c in self.store.alert_cases() if c.id in self.model}
        assert ours == self.model

    def teardown(self) -> None:
        assert self.store.check_audit_chain().ok


def test_the_alert_workflow_agrees_with_its_model(store: Store) -> None:
    AlertWorkflow.store, AlertWorkflow.seen = store, Counter()
    run_state_machine_as_test(
        AlertWorkflow,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert set(AlertWorkflow.seen) == {"refused", "investigating", "closed"}, AlertWorkflow.seen


# -- the quarantine inventory -----------------------------------------------------------


def _routed(
    store: Store, serial: str, route: Route, why: Why, at: datetime, *, alert: int | None = None
) -> int:
    """A pack scanned, decided and finished on `route` (the hub alerted first, for `alert`)."""
    ui = hub_pack(serial, batch=f"B-{serial}", expiry_raw="290131")
    if alert is None:
        token = store.record_scan(Scan(serial, None, "test", at), at=at)
    else:
        token = raise_alert(store, ui, alert, at)
    parsed = ParsedScan(raw=serial, format="gs1", symbology=None, ui=ui, submit=True,
                        scheme="GTIN", product_code=ui.product_code, serial=ui.serial,
                        batch=ui.batch, expiry_raw=ui.expiry_raw)  # fmt: skip
    action = Action.SHELVE if route is Route.SHELVED else Action.QUARANTINE
    store.record_decision(token, Stage.VERIFY, parsed, Decision(action, why, str(why)), at=at)
    store.finish(token, route=route, why=why, message=f"{why}: {serial}", ui=ui, at=at)
    return token


def test_the_quarantine_inventory_lists_the_packs_in_the_chute_longest_there_first(
    store: Store,
) -> None:
    t = [AT + timedelta(minutes=m) for m in range(6)]
    alerted = _routed(store, "S1", Route.QUARANTINED, Why.ALERT, t[1], alert=1)
    _routed(store, "S2", Route.SHELVED, Why.VERIFIED, t[2])
    duplicate = _routed(store, "S3", Route.QUARANTINED, Why.DUPLICATE, t[0])
    _routed(store, "S4", Route.REJECTED, Why.EXPIRED, t[3])
    store.move_alert(1, "investigating", reason="asking the MAH", actor="ann", at=t[4])
    inventory = store.quarantine()
    assert [p.token for p in inventory] == [duplicate, alerted]
    first, second = inventory
    assert (first.product_code, first.serial, first.batch, first.expiry_raw) == (
        GTIN, "S3", "B-S3", "290131"
    )  # fmt: skip
    assert (first.why, first.message, first.since, first.alert) == (
        "duplicate-in-stock", "duplicate-in-stock: S3", t[0], None
    )  # fmt: skip
    assert second.alert is not None
    assert (second.why, second.since, second.alert.id, second.alert.state) == (
        "alert", t[1], 1, AlertState.INVESTIGATING
    )  # fmt: skip


def test_a_pack_retrieved_from_the_shelf_into_quarantine_is_in_the_inventory_since_then(
    store: Store,
) -> None:
    token = _routed(store, "S1", Route.SHELVED, Why.VERIFIED, AT)
    job = store.start_job(Job(JobCode.RETRIEVE_TO_QUARANTINE, token, JobReason.FMD_ALERT), at=AT)
    assert store.quarantine() == []
    later = AT + timedelta(hours=1)
    outcome = JobOutcome(JobResult.RETRIEVED, None)
    assert store.record_retrieval(token, job, outcome, at=later) is Route.QUARANTINED
    [pack] = store.quarantine()
    assert (pack.token, pack.serial, pack.batch, pack.since, pack.why) == (
        token, "S1", "B-S1", later, "verified"
    )  # fmt: skip


def test_a_pack_leaves_the_chute_when_it_is_destroyed_or_returned_to_its_supplier(
    store: Store,
) -> None:
    destroyed = _routed(store, "S1", Route.QUARANTINED, Why.ALERT, AT, alert=1)
    returned = _routed(store, "S2", Route.QUARANTINED, Why.ALERT, AT, alert=2)
    locked = _routed(store, "S3", Route.QUARANTINED, Why.DUPLICATE, AT)
    later = AT + timedelta(hours=2)
    actions = ((destroyed, "S1", Reason.DESTROYED), (locked, "S3", Reason.LOCKED))
    for token, serial, reason in actions:
        ui = hub_pack(serial, batch=f"B-{serial}", expiry_raw="290131")
        intent = store.queue_pack_action(token, ui, HubOperation.DECOMMISSION, reason,
                                         trx=f"t-{serial}", at=later, actor="ann",
                                         note="as agreed", location="ward-7")  # fmt: skip
        assert [p.token for p in store.quarantine()].count(token) == 1  # not until it landed
        store.settle_intent(intent.id, IntentStatus.DONE, "NMVS_SUCCESS", at=later)
    assert returned in [p.token for p in store.quarantine()]
    store.move_alert(2, "closed", cause="returned-to-supplier", reason="credit note 77",
                     actor="ann", at=later)  # fmt: skip
    assert [p.token for p in store.quarantine()] == [locked]  # a locked pack stays in the chute


@pytest.mark.postgres
async def test_two_people_closing_one_case_at_once_on_postgresql_make_one_transition(
    postgres_url: str,
) -> None:
    first, second = Store.open(postgres_url), Store.open(postgres_url)
    try:
        raise_alert(first, hub_pack("S1"), 1)
        holding, release = threading.Event(), threading.Event()

        def close_and_hold() -> None:  # the first closes the case, and commits when released
            with first.batch():
                first.move_alert(1, "closed", cause="reported-to-authority", reason="seal broken",
                                 actor="ann", at=AT)  # fmt: skip
                holding.set()
                release.wait(30)

        holder = threading.Thread(target=close_and_hold)
        holder.start()
        assert holding.wait(30)
        blocked = asyncio.create_task(asyncio.to_thread(
            second.move_alert, 1, "closed", cause="scanner-or-process-error", reason="typo",
            actor="bob", at=AT))  # fmt: skip
        await until(lambda: waiting_for_a_lock(first), timeout_s=30)
        release.set()
        holder.join()
        with pytest.raises(
            TransitionRefused, match="alert 1 is closed \\(reported-to-authority\\)"
        ):
            await blocked
        found = first.alert_case(1)
        assert found is not None
        assert [step.actor for step in found[1]] == ["ann"]
        assert first.check_audit_chain().ok
    finally:
        release.set()
        first.close()
        second.close()


def waiting_for_a_lock(store: Store) -> bool:
    """True when another session of this database waits for a lock (the second closer)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    with store.engine.connect() as conn:
        return bool(conn.execute(query).scalar_one())

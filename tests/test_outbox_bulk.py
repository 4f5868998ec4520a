"""The outbox replays in mixed bulks: a few requests for many packs, each item under its own
trx id, a change whose answer was lost asked about before it goes again, and a pack that needs
single-pack transactions sent on its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, BulkResult, HubResult, HubUnavailable, MockHub, PackState, Reason
from fmd.hub.contract import UNANSWERED
from fmd.hub.returncodes import UNKNOWN_PRODUCT
from robot_controller.outbox import BULK_SIZE, THROTTLED, replay
from robot_controller.states import HubOperation, IntentStatus
from tests.support.outbox import LOCATION, NOW, Counting, at_now, queue_all, quick, world
from tests.support.relay import RelayClient


def state_of(hub: MockHub, ui: PackIdentifier) -> tuple[PackState, tuple[Reason, ...]]:
    return hub.pack_state(ui.product_code, ui.serial)


async def test_many_pending_decommissions_go_in_a_few_mixed_requests_each_under_its_trx(
    store_url: str,
) -> None:
    delivery, hub, store = world(store_url, 2 * BULK_SIZE + 10, seed=41)
    queued = queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="d")
    wire = Counting(hub.client(LOCATION))

    report = await replay(store, quick(wire), clock=at_now)

    assert wire.requests == {"mixed": 3}
    assert [len(bulk) for bulk in wire.bulks] == [BULK_SIZE, BULK_SIZE, 10]
    sent = [(item.operation, item.to, item.trx) for bulk in wire.bulks for item in bulk]
    assert sent == [("decommission", Reason.SUPPLIED, i.client_trx_id) for i in queued]
    assert (report.done, report.left, report.stopped) == (len(queued), 0, None)
    assert hub.state_changes == len(queued)
    assert store.outbox_counts() == {("decommission", "done"): len(queued)}


class LosesTheFirstAnswer(RelayClient):
    """The first mixed bulk reaches the hub and is applied; its answer is lost."""

    lost = False

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        answer = await self.inner.mixed(items)
        if not self.lost:
            self.lost = True
            raise HubUnavailable("connection reset")
        return answer


async def test_a_lost_mixed_answer_is_confirmed_by_verifies_and_changes_nothing_twice(
    store_url: str,
) -> None:
    # a hub that forgets trx ids: a blind re-send would be processed (and alert) again
    delivery, hub, store = world(store_url, 12, seed=42, hub=MockHub(seed=1, remembered_trx=0))
    queued = queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="d")

    first = await replay(store, quick(LosesTheFirstAnswer(hub.client(LOCATION))), clock=at_now)
    assert (first.done, first.left, first.stopped) == (0, 12, "connection reset")
    assert {i.attempts for i in store.pending_intents()} == {1}  # sent: next time, ask first
    assert hub.state_changes == 12

    wire = Counting(hub.client(LOCATION))
    second = await replay(store, quick(wire), clock=at_now)

    assert wire.requests == {"mixed": 1}  # the verifies; nothing to send again
    assert {item.operation for item in wire.bulks[0]} == {"verify"}
    assert not {item.trx for item in wire.bulks[0]} & {i.client_trx_id for i in queued}
    assert (second.done, second.left) == (12, 0)
    assert hub.state_changes == 12
    assert hub.alerts == []


class LeavesOneOut(RelayClient):
    """The hub's answer to the first mixed bulk leaves out its second item; `applied`: that
    item was processed all the same (else it never reached the hub)."""

    def __init__(self, inner: MockHub, *, applied: bool) -> None:
        super().__init__(inner.client(LOCATION))
        self.applied = applied
        self.done = False

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        if self.done:
            return await self.inner.mixed(items)
        self.done = True
        left_out = items[1]
        sent = list(items) if self.applied else [i for i in items if i is not left_out]
        answer = await self.inner.mixed(sent)
        results = list(answer.results)
        unanswered = HubResult("technical", UNANSWERED, client_trx_id=left_out.trx or "")
        if self.applied:
            results[1] = unanswered
        else:
            results.insert(1, unanswered)
        return BulkResult(answer.hub_trx_id, tuple(results))


@pytest.mark.parametrize("applied", [True, False])
async def test_an_item_left_out_of_the_answer_stays_pending_and_is_asked_about_next_time(
    store_url: str, applied: bool
) -> None:
    delivery, hub, store = world(store_url, 4, seed=43)
    queued = queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="d")
    left_out = queued[1]

    first = await replay(store, quick(LeavesOneOut(hub, applied=applied)), clock=at_now)
    assert (first.done, first.left, first.stopped) == (3, 1, None)
    assert [(i.id, i.attempts) for i in store.pending_intents()] == [(left_out.id, 1)]

    wire = Counting(hub.client(LOCATION))
    second = await replay(store, quick(wire), clock=at_now)

    # alone, it goes as single-pack calls: its state asked, and the change sent only if needed
    assert wire.requests == ({"verify": 1} if applied else {"verify": 1, "decommission": 1})
    assert (second.done, second.left) == (1, 0)
    assert state_of(hub, left_out.ui) == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert hub.state_changes_by_pack[(left_out.ui.product_code, left_out.ui.serial)] == 1
    assert hub.alerts == []


async def test_a_change_sent_before_is_verified_first_and_only_what_did_not_land_goes_again(
    store_url: str,
) -> None:
    delivery, hub, store = world(store_url, 6, seed=44, hub=MockHub(seed=1, remembered_trx=0))
    queued = queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="d")
    client = hub.client(LOCATION)
    for intent in queued:  # every one sent, its answer lost; only the even ones reached the hub
        store.settle_intent(intent.id, IntentStatus.PENDING, None, at=NOW)
        if intent.token % 2 == 0:
            assert intent.reason is not None
            await client.decommission(intent.ui, intent.reason, trx=intent.client_trx_id)
    wire = Counting(client)

    report = await replay(store, quick(wire), clock=at_now)

    assert wire.requests == {"mixed": 2}
    verifies, resent = wire.bulks
    assert [item.operation for item in verifies] == ["verify"] * 6
    odd = [i for i in queued if i.token % 2]
    assert [(item.operation, item.trx) for item in resent] == [
        ("decommission", i.client_trx_id) for i in odd
    ]
    assert (report.done, report.left) == (6, 0)
    assert hub.state_changes == 6
    assert hub.alerts == []


async def test_undo_items_name_the_decommission_they_undo(store_url: str) -> None:
    delivery, hub, store = world(store_url, 3, seed=45)
    decommissions = queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="d")
    assert (await replay(store, quick(hub), clock=at_now)).done == 3
    undos = [
        store.queue_intent(i.token, i.ui, HubOperation.UNDO, i.reason, trx=f"u-{i.token}", at=NOW)
        for i in decommissions
    ]
    wire = Counting(hub.client(LOCATION))

    report = await replay(store, quick(wire), clock=at_now)

    assert wire.requests == {"mixed": 1}
    assert [(item.operation, item.to, item.trx, item.ref_trx) for item in wire.bulks[0]] == [
        ("undo", Reason.SUPPLIED, u.client_trx_id, d.client_trx_id)
        for u, d in zip(undos, decommissions, strict=True)
    ]
    assert report.done == 3
    assert {state_of(hub, i.ui)[0] for i in decommissions} == {PackState.ACTIVE}


async def test_confirm_intents_are_only_verified_never_sent_again(store_url: str) -> None:
    delivery, hub, store = world(store_url, 3, seed=46)
    queued = queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="d")
    client = hub.client(LOCATION)
    for intent in queued:  # sent, answer lost, and the pack missed the shelf
        store.settle_intent(intent.id, IntentStatus.PENDING, None, at=NOW)
        store.cancel_unsent(intent.token, at=NOW)
    landed = queued[:2]
    for intent in landed:
        await client.decommission(intent.ui, Reason.SUPPLIED, trx=intent.client_trx_id)
    assert {i.operation for i in store.pending_intents()} == {HubOperation.CONFIRM}
    wire = Counting(client)

    report = await replay(store, quick(wire), clock=at_now)

    assert wire.requests == {"mixed": 1}
    assert {item.operation for item in wire.bulks[0]} == {"verify"}
    assert (report.done, report.cancelled, report.left) == (2, 1, 0)
    assert hub.state_changes == 2
    assert state_of(hub, queued[2].ui)[0] is PackState.ACTIVE


async def test_a_throttled_bulk_leaves_its_items_pending_and_unsent(store_url: str) -> None:
    # one request in any second, and the second never ends
    hub = MockHub(seed=1, rate_limit_per_s=1, monotonic=lambda: 0.0)
    delivery, hub, store = world(store_url, 4, seed=47, hub=hub)
    queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="d")

    report = await replay(store, quick(hub), clock=at_now, bulk_size=2)

    assert (report.done, report.left, report.stopped) == (2, 2, THROTTLED)
    assert [i.attempts for i in store.pending_intents()] == [0, 0]  # nothing was applied
    assert hub.state_changes == 2


class AnotherMarket(RelayClient):
    """A pack of another market. A single-pack call reaches its market and its answer says so;
    a bulk does not: the product is unknown here, unless `known` (then answered, flagged)."""

    def __init__(self, inner: MockHub, foreign: PackIdentifier, *, known: bool) -> None:
        super().__init__(inner.client(LOCATION))
        self.foreign = foreign.serial
        self.known = known

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        return self._marked(ui, await super().verify(ui, trx=trx))

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        return self._marked(ui, await super().decommission(ui, to, trx=trx))

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        if self.known:
            answer = await super().mixed(items)
            results = (self._marked(i.ui, r) for i, r in zip(items, answer.results, strict=True))
            return BulkResult(answer.hub_trx_id, tuple(results))
        answer = await super().mixed([item for item in items if item.ui.serial != self.foreign])
        answers = iter(answer.results)
        unknown = HubResult("refused", UNKNOWN_PRODUCT)
        results = (unknown if item.ui.serial == self.foreign else next(answers) for item in items)
        return BulkResult(answer.hub_trx_id, tuple(results))

    def _marked(self, ui: PackIdentifier, result: HubResult) -> HubResult:
        return replace(result, intermarket=True) if ui.serial == self.foreign else result


@pytest.mark.parametrize(
    ("sent_before", "known"),
    [(False, False), (True, False), (True, True)],
    ids=["never-sent", "sent-before", "sent-before-known-intermarket"],
)
async def test_a_pack_of_another_market_has_its_change_sent_on_its_own(
    store_url: str, sent_before: bool, known: bool
) -> None:
    delivery, hub, store = world(store_url, 4, seed=48)
    queued = queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="d")
    if sent_before:  # answers lost: each pack's state is asked first
        for intent in queued:
            store.settle_intent(intent.id, IntentStatus.PENDING, None, at=NOW)
    foreign = queued[2].ui
    wire = Counting(AnotherMarket(hub, foreign, known=known))

    report = await replay(store, quick(wire), clock=at_now)

    assert [ui.serial for ui in wire.changed_alone] == [foreign.serial]
    in_bulk = [i for bulk in wire.bulks for i in bulk if i.ui.serial == foreign.serial]
    # never sent, it went in a bulk once, was refused there (nothing applied), then alone
    assert [i.operation for i in in_bulk] == (["verify"] if sent_before else ["decommission"])
    assert (report.done, report.failed, report.left) == (4, 0, 0)
    assert state_of(hub, foreign) == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert hub.state_changes == 4


class Stopped(BaseException):
    """The process stopping (SIGKILL, power cut) while a request is on the wire."""


class StopsAfterSending(RelayClient):
    """Sends the first mixed bulk, then the process stops before its answer is recorded."""

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        await self.inner.mixed(items)
        raise Stopped


async def test_a_bulk_in_flight_when_the_process_stopped_is_asked_about_before_it_goes_again(
    store_url: str,
) -> None:
    # a hub that forgets trx ids (as the REST dialect carries none): a blind re-send would
    # decommission each pack a second time
    delivery, hub, store = world(store_url, 6, seed=43, hub=MockHub(seed=1, remembered_trx=0))
    queue_all(store, delivery, HubOperation.DECOMMISSION, prefix="s")
    with pytest.raises(Stopped):
        await replay(store, quick(StopsAfterSending(hub.client(LOCATION))), clock=at_now)
    assert hub.state_changes == 6
    assert {i.attempts for i in store.pending_intents()} == {1}, "counted before it went"

    wire = Counting(hub.client(LOCATION))
    again = await replay(store, quick(wire), clock=at_now)

    assert {item.operation for bulk in wire.bulks for item in bulk} == {"verify"}
    assert (again.done, again.left) == (6, 0)
    assert hub.state_changes == 6
    assert hub.alerts == []

"""Finding packs in the log, and one pack's whole history, after a real pipeline run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from robot_controller.store import Store
from robot_controller.store.history import (
    MAX_LIMIT,
    Kind,
    PackFilter,
    pack_history,
    search,
    stream_packs,
)
from simulators.delivery import Kind as PackKind
from tests.support.loaded_log import CLERK, HELD, PHARMACIST, Loaded, load_delivery


@pytest.fixture
async def loaded(store: Store) -> Loaded:
    return await load_delivery(store)


def found(loaded: Loaded, wanted: PackFilter, limit: int = MAX_LIMIT) -> list[int]:
    with loaded.store.reading() as conn:
        return [row.token for row in search(conn, wanted, limit=limit)]


async def test_a_search_by_serial_finds_every_scan_of_that_serial(loaded: Loaded) -> None:
    token, duplicate = loaded.pack(PackKind.DUPLICATE)
    hits = found(loaded, PackFilter(serial=duplicate.ui.serial))
    same = {t for t, p in zip(loaded.tokens, loaded.delivery.packs, strict=True)
            if p.ui.serial == duplicate.ui.serial}  # fmt: skip
    assert token in hits
    assert len(hits) >= 2  # the genuine pack and its duplicate
    assert set(hits) <= same


async def test_a_search_by_product_code_and_by_batch_finds_exactly_their_packs(
    loaded: Loaded,
) -> None:
    _, genuine = loaded.pack(PackKind.GENUINE)
    by_product = found(loaded, PackFilter(product_code=genuine.ui.product_code))
    by_batch = found(loaded, PackFilter(batch=genuine.ui.batch))
    with loaded.store.reading() as conn:
        rows = list(stream_packs(conn, PackFilter()))
    assert by_product == sorted(
        (r.token for r in rows if r.product_code == genuine.ui.product_code), reverse=True
    )
    assert by_batch == sorted((r.token for r in rows if r.batch == genuine.ui.batch), reverse=True)
    assert by_product
    assert by_batch


async def test_a_search_by_route_matches_the_recorded_outcomes(loaded: Loaded) -> None:
    outcomes = loaded.store.outcomes()
    for route in ("shelved", "rejected", "quarantined"):
        expected = sorted((t for t, (r, _) in outcomes.items() if r == route), reverse=True)
        assert found(loaded, PackFilter(route=route)) == expected
        assert expected


async def test_a_search_by_return_code_finds_the_packs_that_got_it(loaded: Loaded) -> None:
    token, _ = loaded.pack(PackKind.UNKNOWN_SERIAL)
    with loaded.store.reading() as conn:
        code = next(
            row.return_code for row in stream_packs(conn, PackFilter()) if row.token == token
        )
    assert code is not None
    hits = found(loaded, PackFilter(return_code=code))
    assert token in hits
    assert found(loaded, PackFilter(return_code="NO_SUCH_CODE")) == []


async def test_a_search_by_time_range_bounds_when_the_scan_was_recorded(loaded: Loaded) -> None:
    with loaded.store.reading() as conn:
        rows = list(stream_packs(conn, PackFilter()))
    middle = rows[len(rows) // 2].recorded_at
    later = found(loaded, PackFilter(since=middle))
    earlier = found(loaded, PackFilter(until=middle))
    assert sorted(later + earlier) == sorted(r.token for r in rows)
    assert all(r.recorded_at >= middle for r in rows if r.token in later)
    assert found(loaded, PackFilter(until=loaded.started)) == []
    assert found(loaded, PackFilter(since=loaded.ended + timedelta(days=1))) == []


async def test_a_search_by_actor_finds_the_packs_with_an_event_by_them(loaded: Loaded) -> None:
    with loaded.store.reading() as conn:
        everything = [r.token for r in search(conn, PackFilter(), limit=MAX_LIMIT)]
    assert found(loaded, PackFilter(actor="daemon")) == everything
    assert len(found(loaded, PackFilter(actor=CLERK))) == 1  # the pack of the alert they moved
    assert found(loaded, PackFilter(actor=PHARMACIST)) == [loaded.pack(PackKind.RECALLED)[0]]
    assert found(loaded, PackFilter(actor="nobody")) == []


async def test_filters_combine_and_the_limit_keeps_the_newest(loaded: Loaded) -> None:
    _, genuine = loaded.pack(PackKind.GENUINE)
    both = found(loaded, PackFilter(product_code=genuine.ui.product_code, route="shelved"))
    assert set(both) <= set(found(loaded, PackFilter(route="shelved")))
    assert found(loaded, PackFilter(), limit=3) == found(loaded, PackFilter())[:3]
    with loaded.store.reading() as conn, pytest.raises(ValueError, match="1 to"):
        search(conn, PackFilter(), limit=MAX_LIMIT + 1)


async def test_a_packs_history_shows_every_kind_of_event_in_time_order(loaded: Loaded) -> None:
    with loaded.store.reading() as conn:
        investigated = next(r for r in stream_packs(conn, PackFilter(actor=CLERK)))
        assert investigated.product_code is not None
        assert investigated.serial is not None
        history = pack_history(conn, investigated.product_code, investigated.serial)
    kinds = [h.kind for h in history]
    assert set(kinds) == set(Kind)
    assert [h.at for h in history] == sorted(h.at for h in history)
    assert kinds.index(Kind.SCAN) < kinds.index(Kind.DECISION) < kinds.index(Kind.OUTCOME)
    assert kinds.index(Kind.HUB) < kinds.index(Kind.ALERT) < kinds.index(Kind.ALERT_TRANSITION)
    transition = next(h for h in history if h.kind is Kind.ALERT_TRANSITION)
    assert transition.detail["actor"] == CLERK
    assert transition.detail["to"] == "investigating"
    audited = [h for h in history if h.kind is Kind.AUDIT and h.detail["actor"] == CLERK]
    assert [h.detail["subject"] for h in audited] == [f"alert:{transition.detail['alert']}"]
    hub = next(h for h in history if h.kind is Kind.HUB)
    assert hub.detail["return_code"]
    assert hub.detail["latency_ms"] >= 0


async def test_a_pack_scanned_twice_has_the_history_of_both_tokens(loaded: Loaded) -> None:
    token, duplicate = loaded.pack(PackKind.DUPLICATE)
    with loaded.store.reading() as conn:
        history = pack_history(conn, duplicate.ui.product_code, duplicate.ui.serial)
    scans = [h for h in history if h.kind is Kind.SCAN]
    assert len(scans) >= 2
    assert token in {h.token for h in scans}
    routes = [h.detail["route"] for h in history if h.kind is Kind.OUTCOME]
    assert routes[0] == "shelved"
    assert set(routes[1:]) == {"quarantined"}  # the same serial again: a duplicate


async def test_a_scans_parse_problems_are_in_its_history(loaded: Loaded) -> None:
    _, suspect = loaded.pack(PackKind.UNKNOWN_SERIAL)
    with loaded.store.reading() as conn:
        history = pack_history(conn, suspect.ui.product_code, suspect.ui.serial)
    problems = [h for h in history if h.kind is Kind.PROBLEM]
    assert [p.detail["code"] for p in problems] == ["surrounding-whitespace"]
    scans = [h for h in history if h.kind is Kind.SCAN]
    assert scans[-1].detail["raw"].endswith("\t")  # the raw scan, as it came


async def test_a_pack_action_is_in_its_packs_history_with_who_and_why(loaded: Loaded) -> None:
    token, recalled = loaded.pack(PackKind.RECALLED)
    with loaded.store.reading() as conn:
        history = pack_history(conn, recalled.ui.product_code, recalled.ui.serial)
    (action,) = (h for h in history if h.kind is Kind.INTENT and h.detail["actor"])
    assert action.token == token
    assert (action.detail["actor"], action.detail["note"]) == (PHARMACIST, HELD)
    assert (action.detail["operation"], action.detail["reason"]) == ("decommission", "LOCKED")
    assert action.detail["status"] == "pending"
    assert history[-1].kind is Kind.AUDIT
    assert history[-1].detail["actor"] == PHARMACIST


async def test_a_pack_the_log_never_saw_has_no_history(loaded: Loaded) -> None:
    with loaded.store.reading() as conn:
        assert pack_history(conn, "09999999999999", "NOPE") == []

"""The live feed: routed packs as events, kept for late joiners, pushed to every listener; a
listener that falls behind is dropped (never a gap, never a wait for `publish`); `close` ends
every stream."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fmd.codes.model import PackIdentifier
from fmd.policy import Why
from robot_controller.pipeline import Routed
from robot_controller.states import Route
from robot_controller.texts import catalogue
from robot_controller.web.feed import LiveFeed, PackEvent

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def routed(token: int, route: Route = Route.SHELVED, why: Why = Why.VERIFIED) -> Routed:
    ui = PackIdentifier("GTIN", "09506000134352", f"SN{token}", "B1", date(2028, 12, 31), "281231")
    return Routed(token, route, why, ui)


def a_feed(*, keep: int = 500, backlog: int = 1000) -> LiveFeed:
    ticks = iter(range(1_000_000))
    return LiveFeed(
        catalogue("en"),
        keep=keep,
        backlog=backlog,
        clock=lambda: START + timedelta(seconds=next(ticks)),
    )


def seqs(events: list[PackEvent]) -> list[int]:
    return [e.seq for e in events]


def test_a_published_pack_is_an_event_in_the_bench_s_words_and_counted() -> None:
    feed = a_feed()
    event = feed.publish(routed(7, Route.QUARANTINED, Why.ALERT))
    assert (event.seq, event.token, event.at) == (1, 7, START)
    assert event.route == "quarantined"
    assert event.serial == "SN7"
    assert event.expiry == "2028-12-31"
    assert event.instruction  # what the bench does with it, in words
    assert event.as_json()["at"] == START.isoformat()
    assert feed.counts["quarantined"] == 1
    assert feed.last_seq == 1


def test_the_feed_keeps_the_last_events_for_late_joiners() -> None:
    feed = a_feed(keep=3)
    for token in range(1, 6):
        feed.publish(routed(token))
    assert seqs(feed.recent()) == [3, 4, 5]
    assert seqs(feed.recent(after=3)) == [4, 5]
    assert seqs(feed.recent(limit=1)) == [5]


async def test_a_listener_gets_the_kept_events_after_its_seq_then_the_new_ones() -> None:
    feed = a_feed()
    for token in range(1, 4):
        feed.publish(routed(token))
    stream = feed.follow(after=1)
    assert (await anext(stream)).seq == 2
    feed.publish(routed(4))  # while it is still being sent the kept ones
    assert [(await anext(stream)).seq for _ in range(2)] == [3, 4]  # each once, in order
    feed.publish(routed(5))
    assert (await anext(stream)).seq == 5
    assert feed.listeners == 1
    await stream.aclose()
    assert feed.listeners == 0


async def test_a_listener_too_far_behind_is_dropped_without_a_gap_and_publish_goes_on() -> None:
    feed = a_feed(keep=100, backlog=3)
    feed.publish(routed(1))
    slow, fast = feed.follow(after=0), feed.follow(after=0)
    assert (await anext(slow)).seq == 1  # both listening now
    assert (await anext(fast)).seq == 1
    got = []
    for token in range(2, 12):
        feed.publish(routed(token))  # never waits: the slow one reads nothing meanwhile
        got.append((await anext(fast)).seq)
    assert got == list(range(2, 12))  # the one keeping up misses nothing
    assert feed.dropped_listeners == 1
    assert feed.listeners == 1
    assert [e.seq async for e in slow] == []  # its stream ends after the last it was given …
    again = feed.follow(after=1)  # … and resuming after that one loses nothing
    assert [(await anext(again)).seq for _ in range(10)] == list(range(2, 12))
    await again.aclose()
    await fast.aclose()


async def test_publish_never_waits_for_a_listener_that_reads_nothing() -> None:
    feed = a_feed(keep=10, backlog=5)
    feed.publish(routed(1))
    stalled = feed.follow(after=0)
    await anext(stalled)
    for token in range(2, 1002):  # far more than its backlog: each publish returns at once
        feed.publish(routed(token))
    assert feed.last_seq == 1001
    assert feed.dropped_listeners == 1
    assert [e.seq async for e in stalled] == []


async def test_closing_the_feed_ends_every_stream_and_later_ones_get_only_the_kept() -> None:
    feed = a_feed()
    feed.publish(routed(1))
    first, second = feed.follow(after=0), feed.follow(after=0)
    await anext(first)
    await anext(second)
    feed.publish(routed(2))
    feed.close()
    assert feed.closed
    assert feed.listeners == 0
    assert [e.seq async for e in first] == []  # queued events go: it resumes after seq 1
    assert [e.seq async for e in second] == []
    feed.publish(routed(3))  # a stopping daemon may still route a pack: kept, sent to no one
    assert [e.seq async for e in feed.follow(after=1)] == [2, 3]
    assert [e.seq async for e in feed.follow()] == []


async def test_a_quiet_feed_says_so_each_time_the_quiet_lasts_for_keep_alives() -> None:
    feed = a_feed()
    stream = feed.follow_or_quiet(quiet_s=0.01)
    assert await anext(stream) is None  # nothing published: a cue for a ping
    assert await anext(stream) is None
    feed.publish(routed(1))
    event = await anext(stream)
    assert event is not None
    assert event.seq == 1
    await stream.aclose()
    assert feed.listeners == 0

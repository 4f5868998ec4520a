"""The resilience wrapper: retries that never double a state change, backoff, the breaker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest

from fmd.codes.model import PackIdentifier
from fmd.hub import (
    HubAuthFailed,
    HubClient,
    HubResult,
    HubUnavailable,
    MockHub,
    PackState,
    Reason,
)
from fmd.hub.resilient import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    ResilientHub,
    RetryPolicy,
)
from simulators.hub import Accounts, Faults, HubSimulator
from tests.support.packs import GTIN, hub_pack
from tests.support.relay import RelayClient

HERE = "hospital-pharmacy-1"


def stocked(*serials: str, **faults: float) -> MockHub:
    hub = MockHub(seed=3, **faults)  # type: ignore[arg-type]
    hub.add_product(GTIN)
    hub.add_batch(GTIN, "B1", date(2028, 12, 31))
    for serial in serials:
        hub.add_pack(hub_pack(serial))
    return hub


class Sleeps:
    """An injected sleep that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Scripted(RelayClient):
    """Fails the first `n` calls of each kind the way it is told to, then relays."""

    def __init__(self, inner: HubClient, *, fail: str, n: int = 1, landed: bool = False) -> None:
        super().__init__(inner)
        self.fail, self.left, self.landed = fail, {"verify": n, "decommission": n}, landed
        self.sent = 0

    async def _maybe(self, kind: str) -> None:
        if self.left[kind] > 0 and self.fail in (kind, "both"):
            self.left[kind] -= 1
            raise HubUnavailable("read timeout")

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        await self._maybe("verify")
        return await self.inner.verify(ui, trx=trx)

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        self.sent += 1
        if self.left["decommission"] > 0 and self.fail in ("decommission", "both"):
            self.left["decommission"] -= 1
            if self.landed:
                await self.inner.decommission(ui, to, trx=trx)
            raise HubUnavailable("connection dropped")
        return await self.inner.decommission(ui, to, trx=trx)


def wrap(inner: HubClient, **kwargs: object) -> tuple[ResilientHub, Sleeps]:
    sleeps = Sleeps()
    return ResilientHub(inner, sleep=sleeps, seed=1, **kwargs), sleeps  # type: ignore[arg-type]


async def test_verify_is_retried_after_no_answer_with_growing_waits() -> None:
    hub = stocked("S1")
    resilient, sleeps = wrap(Scripted(hub.client(HERE), fail="verify", n=2))
    result = await resilient.verify(hub_pack("S1"))
    assert result.state is PackState.ACTIVE
    assert len(sleeps.waits) == 2
    assert sleeps.waits[1] > sleeps.waits[0] * 0.5  # exponential, with jitter


@pytest.mark.parametrize("landed", [True, False], ids=["landed", "not-landed"])
async def test_a_lost_decommission_is_verified_before_any_resend(landed: bool) -> None:
    hub = stocked("S2")
    scripted = Scripted(hub.client(HERE), fail="decommission", landed=landed)
    resilient, _ = wrap(scripted)
    result = await resilient.decommission(hub_pack("S2"), Reason.SUPPLIED, trx="t-1")
    assert (result.state, result.reasons) == (PackState.INACTIVE, (Reason.SUPPLIED,))
    assert hub.state_changes_by_pack == {(GTIN, "S2"): 1}
    assert scripted.sent == (1 if landed else 2)
    assert hub.alerts == []


async def test_a_change_by_someone_else_meanwhile_is_never_overwritten() -> None:
    hub = stocked("S3")

    class StolenMeanwhile(RelayClient):
        async def decommission(
            self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
        ) -> HubResult:
            await hub.client("elsewhere").decommission(ui, Reason.STOLEN)
            raise HubUnavailable("read timeout")

    resilient, _ = wrap(StolenMeanwhile(hub.client(HERE)))
    result = await resilient.decommission(hub_pack("S3"), Reason.SUPPLIED)
    assert result.reasons == (Reason.STOLEN,)
    assert hub.state_changes_by_pack == {(GTIN, "S3"): 1}


async def test_throttling_waits_as_long_as_the_hub_asked() -> None:
    hub = stocked("S4")

    class Throttled(RelayClient):
        calls = 0

        async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
            Throttled.calls += 1
            if Throttled.calls == 1:
                return HubResult("rate_limited", "NMVS_FI_SE_CLI_01", retry_after_s=7.0)
            return await self.inner.verify(ui, trx=trx)

    resilient, sleeps = wrap(Throttled(hub.client(HERE)))
    assert (await resilient.verify(hub_pack("S4"))).outcome == "ok"
    assert sleeps.waits == [7.0]


async def test_a_hub_that_never_answers_gives_up_after_the_attempts() -> None:
    hub = stocked("S5", timeout_rate=1.0)
    resilient, sleeps = wrap(hub.client(HERE), retry=RetryPolicy(attempts=3))
    with pytest.raises(HubUnavailable):
        await resilient.verify(hub_pack("S5"))
    assert len(sleeps.waits) == 2


async def test_a_hanging_hub_times_out() -> None:
    class Hanging(RelayClient):
        async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
            await asyncio.sleep(10)
            raise AssertionError("not reached")

    resilient, _ = wrap(Hanging(stocked().client(HERE)), timeout_s=0.05,
                        retry=RetryPolicy(attempts=1))  # fmt: skip
    with pytest.raises(HubUnavailable, match="no answer within"):
        await resilient.verify(hub_pack("S6"))


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """`breaker.state` read afresh: it changes as time moves, which mypy cannot see when it
    narrows the property after a comparison."""
    return breaker.state


def test_the_breaker_opens_after_failures_and_tries_once_after_the_cooldown() -> None:
    ticks = Ticks()
    breaker = CircuitBreaker(failures=3, cooldown_s=30, clock=ticks)
    for _ in range(3):
        assert breaker.allow()
        breaker.record(ok=False)
    assert state_of(breaker) == "open"
    assert not breaker.allow()
    ticks.now = 31
    assert state_of(breaker) == "half-open"
    assert breaker.allow()
    assert not breaker.allow()  # one trial at a time
    breaker.record(ok=True)
    assert state_of(breaker) == "closed"


async def test_an_open_breaker_fails_fast_so_the_pipeline_goes_offline() -> None:
    hub = stocked("S7", timeout_rate=1.0)
    breaker = CircuitBreaker(failures=2, cooldown_s=60)
    resilient, _ = wrap(hub.client(HERE), breaker=breaker, retry=RetryPolicy(attempts=2))
    with pytest.raises(HubUnavailable):
        await resilient.verify(hub_pack("S7"))
    before = hub.transactions
    with pytest.raises(CircuitOpen):
        await resilient.verify(hub_pack("S7"))
    assert hub.transactions == before


@pytest.fixture(params=["soap", "rest"])
def wire(request: pytest.FixtureRequest) -> Iterator[tuple[MockHub, HubSimulator, str]]:
    serials = [f"W{i}" for i in range(40)]
    hub = stocked(*serials)
    faults = Faults(lost_reply_rate=0.3, drop_rate=0.1, error_rate=0.1, throttle_rate=0.1,
                    retry_after_s=0)  # fmt: skip
    with HubSimulator(hub, dialects=(request.param,), faults=faults, seed=4) as sim:
        yield hub, sim, request.param


async def test_over_a_faulty_wire_every_pack_is_decommissioned_exactly_once(
    wire: tuple[MockHub, HubSimulator, str],
) -> None:
    hub, sim, _dialect = wire
    inner = sim.client()
    resilient, _ = wrap(inner, retry=RetryPolicy(attempts=8), breaker=CircuitBreaker(failures=99))
    try:
        results = [
            await resilient.decommission(hub_pack(f"W{i}"), Reason.SUPPLIED) for i in range(40)
        ]
    finally:
        await inner.aclose()
    assert all(r.reasons == (Reason.SUPPLIED,) for r in results)
    assert set(hub.state_changes_by_pack.values()) == {1}
    assert len(hub.state_changes_by_pack) == 40
    assert hub.alerts == []
    assert hub.transactions > 50  # the faults forced checks and re-sends


@pytest.mark.parametrize("dialect", ["soap", "rest"])
async def test_an_expired_server_certificate_is_refused_as_unavailable(dialect: str) -> None:
    with HubSimulator(stocked("X1"), dialects=(dialect,), server_cert_expired=True) as sim:
        client = sim.client()
        try:
            with pytest.raises(HubUnavailable, match=r"(?i)certificate|ssl|tls"):
                await client.verify(hub_pack("X1"))
        finally:
            await client.aclose()


async def test_a_hub_asking_for_a_very_long_wait_gets_its_throttled_answer_back() -> None:
    class SlowDown(RelayClient):
        async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
            return HubResult("rate_limited", "NMVS_FI_SE_CLI_01", retry_after_s=86_400.0)

    resilient, sleeps = wrap(SlowDown(stocked().client(HERE)))
    result = await resilient.verify(hub_pack("S8"))
    assert result.outcome == "rate_limited"
    assert sleeps.waits == []


async def test_a_cancelled_trial_call_frees_the_half_open_breaker() -> None:
    ticks = Ticks()
    breaker = CircuitBreaker(failures=1, cooldown_s=10, clock=ticks)
    breaker.record(ok=False)
    ticks.now = 11

    class Hanging(RelayClient):
        async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
            await asyncio.sleep(10)
            raise AssertionError("not reached")

    resilient, _ = wrap(Hanging(stocked().client(HERE)), breaker=breaker)
    trial = asyncio.create_task(resilient.verify(hub_pack("S9")))
    await asyncio.sleep(0.01)
    trial.cancel()
    await asyncio.gather(trial, return_exceptions=True)
    assert breaker.allow()  # the next call may try again


@pytest.mark.parametrize("dialect", ["soap", "rest"])
async def test_a_refused_login_is_sent_once_per_cooldown_and_never_opens_the_breaker(
    dialect: str,
) -> None:
    accounts = Accounts()
    with HubSimulator(stocked("L1"), dialects=(dialect,), accounts=accounts) as sim:
        inner = sim.client()
        ticks = Ticks()
        breaker = CircuitBreaker(failures=2, cooldown_s=30, clock=ticks)
        resilient, sleeps = wrap(inner, breaker=breaker)
        heard: list[HubAuthFailed] = []
        resilient.on_login_refused = heard.append
        sim.accounts = Accounts(
            soap=(replace(accounts.soap[0], password="reset-at-the-hub"),),
            rest=(replace(accounts.rest[0], client_secret="rotated-at-the-hub"),),
        )
        try:
            for _ in range(5):
                with pytest.raises(HubAuthFailed):
                    await resilient.verify(hub_pack("L1"))
            assert sim.book.refused == 1  # sent once: never retried, then refused fast
            assert sleeps.waits == []
            assert state_of(breaker) == "closed"  # not an outage
            assert len(heard) == 1
            ticks.now = 29.9
            with pytest.raises(HubAuthFailed):
                await resilient.decommission(hub_pack("L1"), Reason.SUPPLIED)
            assert sim.book.refused == 1
            ticks.now = 30
            with pytest.raises(HubAuthFailed):  # one trial after the cool-down, refused again
                await resilient.verify(hub_pack("L1"))
            assert (sim.book.refused, len(heard)) == (2, 1)  # the same refusal: heard once
            sim.accounts = accounts  # the password is fixed at the hub
            ticks.now = 60
            assert (await resilient.verify(hub_pack("L1"))).outcome == "ok"
            assert sim.hub.state_changes == 0
        finally:
            await inner.aclose()


async def test_every_try_is_told_to_the_observer_with_how_it_ended() -> None:
    hub = stocked("S8", timeout_rate=1.0)
    resilient, _ = wrap(hub.client(HERE), retry=RetryPolicy(attempts=3))
    told: list[tuple[str, str]] = []
    resilient.on_call = lambda operation, seconds, outcome: told.append((operation, outcome))
    with pytest.raises(HubUnavailable):
        await resilient.verify(hub_pack("S8"))
    hub.set_faults(timeout_rate=0.0)
    await resilient.verify(hub_pack("S8"))
    await resilient.decommission(hub_pack("S8"), Reason.SUPPLIED)
    await resilient.ping()
    assert told == [("verify", "unavailable")] * 3 + [
        ("verify", "ok"),
        ("decommission", "ok"),
        ("ping", "ok"),
    ]

"""Resilience around any `HubClient`, in one place: timeouts, safe retries, backoff, a breaker.

The retry rule of ARCHITECTURE.md invariant 3: a state change whose answer was lost is never re-sent
blindly. The pack's state is asked first (verify); the change is re-sent, with the same client
transaction id, only if it did not land. A throttled request (nothing applied) waits for
`Retry-After` or the backoff and goes again. Verify is read-only and simply retried, within
`timeout_s`: the deadline of the whole verify, its tries and pauses included (a try that could
not start before it is not made).

A refused login (`HubAuthFailed`) is none of these: it is never retried, and it does not count as
an outage (the hub answered; the breaker stays as it was, and closes on the answer). Sending a
wrong password again and again could lock the account, so after a refusal every call fails fast
with the same error for the breaker's cool-down; then one trial call tests the login again.
`on_login_refused`, when set, hears of each refusal that differs from the last one (the first,
or a new message): the daemon logs it once, not once per pack.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, Protocol, TypeVar

from fmd.codes.model import PackIdentifier
from fmd.hub.contract import (
    BulkItem,
    BulkResult,
    HubAuthFailed,
    HubClient,
    HubResult,
    HubUnavailable,
    ManualEntry,
    PackState,
    Reason,
)

BreakerState = Literal["closed", "open", "half-open"]


class HubHealth(StrEnum):
    """How the hub has been answering, as the wrapper sees it."""

    ANSWERING = "answering"
    UNANSWERED = "unanswered"  # no answer (timeouts, connection failures, technical errors)
    BREAKER_OPEN = "breaker-open"  # it failed too often: calls are paused for a while
    THROTTLED = "throttled"  # it asked us to slow down


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call that reached (or tried to reach) the hub, for the verification log."""

    operation: str
    ui: PackIdentifier
    trx: str
    reason: Reason | None
    result: HubResult | None
    error: str | None
    latency_s: float
    at: datetime


_attempts: ContextVar[list[Attempt] | None] = ContextVar("fmd_hub_attempts", default=None)


@contextmanager
def traced() -> Iterator[list[Attempt]]:
    """Collect every hub call made by this task inside the block (retries and checks included)."""
    attempts: list[Attempt] = []
    token = _attempts.set(attempts)
    try:
        yield attempts
    finally:
        _attempts.reset(token)


class CircuitOpen(HubUnavailable):
    """The breaker is open: the hub failed too often; calls fail fast until the cool-down ends."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to try one call."""

    attempts: int = 4
    backoff_s: float = 0.2
    backoff_max_s: float = 5.0
    jitter: float = 0.5  # each wait is scaled by a random factor within 1 ± jitter
    max_retry_after_s: float = 30.0  # a hub asking for a longer wait gets its answer back

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before retry number `attempt` (1-based): exponential, capped, jittered."""
        base: float = min(self.backoff_max_s, self.backoff_s * 2.0 ** (attempt - 1))
        return base * rng.uniform(1 - self.jitter, 1 + self.jitter)


class CircuitBreaker:
    """Opens after `failures` failures in a row; after `cooldown_s`, lets one trial call through."""

    def __init__(
        self,
        *,
        failures: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_out = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a call go to the hub now?"""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_out:
            self._trial_out = True
            return True
        return False

    def abandon(self) -> None:
        """A call that was allowed ended without an answer (cancelled): free the trial slot."""
        self._trial_out = False

    def record(self, *, ok: bool) -> None:
        """Count the outcome of a call that was allowed."""
        self._trial_out = False
        if ok:
            self._consecutive = 0
            self._opened_at = None
            return
        self._consecutive += 1
        if self._opened_at is not None or self._consecutive >= self.failures:
            self._opened_at = self.clock()


class SafeHub(Protocol):
    """A hub behind the resilience wrapper, as the daemon uses it: every change can be
    confirmed before it is sent again, and the breaker says when the hub is away."""

    @property
    def breaker_open(self) -> bool: ...

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult: ...

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult: ...

    async def confirm_or_decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str
    ) -> HubResult: ...

    async def undo(
        self,
        ui: PackIdentifier,
        from_: Reason,
        *,
        trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult: ...

    async def confirm_or_undo(
        self, ui: PackIdentifier, from_: Reason, *, trx: str, ref_trx: str | None = None
    ) -> HubResult: ...

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult: ...

    async def aclose(self) -> None: ...


class ResilientHub:
    """A `HubClient` that wraps another with timeouts, safe retries, backoff and a breaker."""

    def __init__(
        self,
        inner: HubClient,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        timeout_s: float = 10.0,
        max_rate_per_s: float | None = None,
        seed: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`max_rate_per_s` spaces calls evenly so a hub's known rate limit is never hit."""
        self.inner = inner
        self.max_rate_per_s = max_rate_per_s
        self._next_slot = 0.0
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.timeout_s = timeout_s
        self._login = CircuitBreaker(
            failures=1, cooldown_s=self.breaker.cooldown_s, clock=self.breaker.clock
        )
        self._refusal: HubAuthFailed | None = None
        self.on_login_refused: Callable[[HubAuthFailed], None] | None = None
        self.health = HubHealth.ANSWERING
        self.on_health: Callable[[HubHealth, str], None] | None = None
        """Told each change of `health`, with what caused it."""
        self.on_call: Callable[[str, float, str], None] | None = None
        """Told of every call that went to the hub: its operation, its seconds and how it
        ended (a result's outcome, or no_answer, unavailable, login_failed, abandoned); for metrics,
        so it must be cheap."""
        self._rng = random.Random(seed)  # noqa: S311 - backoff jitter, not secrets
        self._sleep = sleep

    @property
    def breaker_open(self) -> bool:
        """The hub failed too often of late: calls are refused until the breaker cools down."""
        return self.breaker.state == "open"

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        """The pack's state, tried again while another try fits in `timeout_s`: that is the
        deadline of the whole verify (its retries and their pauses included), not of each try."""
        trx = trx or _new_trx()
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        attempt = 0
        while True:
            attempt += 1
            last = attempt == self.retry.attempts
            try:
                result = await self._call(
                    lambda: self.inner.verify(ui, trx=trx), "verify", ui, trx, None,
                    deadline=deadline,
                )  # fmt: skip
            except (CircuitOpen, HubAuthFailed):
                raise
            except HubUnavailable:
                if last or not await self._wait(attempt, None, deadline):
                    raise
                continue
            if result.outcome not in ("technical", "rate_limited"):
                return result
            if last or self._too_long(result) or not await self._wait(attempt, result, deadline):
                return result

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        return await self._decommission(ui, to, trx or _new_trx(), verify_first=False)

    async def confirm_or_decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str
    ) -> HubResult:
        """A decommission that may already have reached the hub (say, before a crash): ask
        the pack's state first, and send only if the change has not landed."""
        return await self._decommission(ui, to, trx, verify_first=True)

    async def _decommission(
        self, ui: PackIdentifier, to: Reason, trx: str, *, verify_first: bool
    ) -> HubResult:
        return await self._change(
            lambda: self.inner.decommission(ui, to, trx=trx),
            ("decommission", ui, trx, to),
            landed=lambda s: s.state is PackState.INACTIVE and to in s.reasons,
            verify_first=verify_first,
        )

    async def undo(
        self,
        ui: PackIdentifier,
        from_: Reason,
        *,
        trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:
        trx = trx or _new_trx()
        return await self._change(
            lambda: self.inner.undo(ui, from_, trx=trx, ref_trx=ref_trx),
            ("undo", ui, trx, from_),
            landed=lambda s: s.state is PackState.ACTIVE,
            pending=lambda s: s.state is PackState.INACTIVE and from_ in s.reasons,
        )

    async def confirm_or_undo(
        self, ui: PackIdentifier, from_: Reason, *, trx: str, ref_trx: str | None = None
    ) -> HubResult:
        """An undo that may already have reached the hub: ask first, send only if still needed."""
        return await self._change(
            lambda: self.inner.undo(ui, from_, trx=trx, ref_trx=ref_trx),
            ("undo", ui, trx, from_),
            landed=lambda s: s.state is PackState.ACTIVE,
            pending=lambda s: s.state is PackState.INACTIVE and from_ in s.reasons,
            verify_first=True,
        )

    async def bulk(self, items: Sequence[BulkItem]) -> BulkResult:
        """A bulk is submitted and then polled: the client's own bulk deadline bounds it, not
        the per-call timeout."""
        return await self._call(lambda: self.inner.bulk(items), "bulk", bounded=False)

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        """As `bulk`: bounded by the client's bulk deadline."""
        return await self._call(lambda: self.inner.mixed(items), "mixed", bounded=False)

    async def manual(
        self, entry: ManualEntry, to: Reason | None = None, *, trx: str | None = None
    ) -> HubResult:
        return await self._call(lambda: self.inner.manual(entry, to, trx=trx), "manual")

    async def ping(self) -> None:
        await self._call(self.inner.ping, "ping")

    async def aclose(self) -> None:
        """Close the wrapped client, if it holds connections."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()

    async def _change(
        self,
        send: Callable[[], Awaitable[HubResult]],
        what: tuple[str, PackIdentifier, str, Reason],
        *,
        landed: Callable[[HubResult], bool],
        pending: Callable[[HubResult], bool] | None = None,
        verify_first: bool = False,
    ) -> HubResult:
        """Send a state change; after a lost or technical answer, verify before any re-send."""
        still_to_do = pending or (lambda s: s.state is PackState.ACTIVE)
        ui = what[1]
        for attempt in range(1, self.retry.attempts + 1):
            result: HubResult | None = None
            if not (verify_first and attempt == 1):
                try:
                    result = await self._call(send, *what)
                except (CircuitOpen, HubAuthFailed):
                    raise
                except HubUnavailable:
                    result = None
            if result is not None and result.outcome == "rate_limited":
                if attempt == self.retry.attempts or self._too_long(result):
                    return result
                await self._wait(attempt, result)  # nothing was applied: send again
                continue
            if result is not None and result.outcome != "technical":
                return result
            state = await self.verify(ui)  # did the change land before the answer was lost?
            if state.outcome == "ok" and landed(state):
                return state
            if state.outcome != "ok" or not still_to_do(state):
                return state  # something else happened to the pack: never re-send over it
            if attempt < self.retry.attempts:
                await self._wait(attempt, None)
        raise HubUnavailable("the state change could not be confirmed; it stays in the outbox")

    async def _call(
        self,
        call: Callable[[], Awaitable[T]],
        operation: str = "",
        ui: PackIdentifier | None = None,
        trx: str = "",
        reason: Reason | None = None,
        *,
        bounded: bool = True,
        deadline: float | None = None,
    ) -> T:
        """One call to the hub under the breaker, the login latch and (when `bounded`) the
        timeout, traced when it concerns a pack; `deadline` (event-loop time) ends it sooner:
        what is left of the `timeout_s` of the operation it is a try of."""
        when: float | None = None
        if bounded:
            when = asyncio.get_running_loop().time() + self.timeout_s
            when = when if deadline is None else min(when, deadline)
        refusal = self._refusal
        if refusal is not None and not self._login.allow():
            raise HubAuthFailed(str(refusal), code=refusal.code)
        if not self.breaker.allow():
            self._login.abandon()
            self._health(HubHealth.BREAKER_OPEN, "the hub failed too often")
            raise CircuitOpen("the hub failed too often; calls are paused for a while")
        await self._pace()
        started = time.perf_counter()
        at = datetime.now(UTC)

        def trace(result: object, error: str | None, ended: str = "") -> None:
            answer = result if isinstance(result, HubResult) else None
            latency = time.perf_counter() - started
            if self.on_call is not None:
                self.on_call(operation, latency, answer.outcome if answer else ended or "ok")
            attempts = _attempts.get()
            if attempts is not None and ui is not None:
                attempts.append(Attempt(operation, ui, trx, reason, answer, error, latency, at))

        try:
            async with asyncio.timeout_at(when):
                result = await call()
        except TimeoutError:
            self._no_answer(f"no answer within {self.timeout_s:g} s")
            trace(None, f"no answer within {self.timeout_s:g} s", "no_answer")
            raise HubUnavailable(f"no answer within {self.timeout_s:g} s") from None
        except HubAuthFailed as error:
            self.breaker.record(ok=True)  # the hub answered: it is there, our login is not
            self._refused(error)
            trace(None, str(error), "login_failed")
            raise
        except HubUnavailable as error:
            self._no_answer(str(error) or type(error).__name__)
            trace(None, str(error) or type(error).__name__, "unavailable")
            raise
        except BaseException as error:  # cancelled, or the client failed its own way: no verdict
            self.breaker.abandon()
            self._login.abandon()
            cancelled = isinstance(error, asyncio.CancelledError)
            trace(None, "abandoned before its answer" if cancelled else repr(error), "abandoned")
            raise
        answered = result if isinstance(result, HubResult) else None
        self.breaker.record(ok=answered is None or answered.outcome != "technical")
        if answered is not None and answered.outcome == "rate_limited":
            self._health(HubHealth.THROTTLED, answered.message or answered.return_code)
        elif answered is not None and answered.outcome == "technical":
            self._no_answer_health(f"{answered.return_code}: {answered.message}")
        else:
            self._health(HubHealth.ANSWERING, "the hub answered")
        self._login.record(ok=True)
        self._refusal = None
        trace(result, None)
        return result

    def _no_answer(self, why: str) -> None:
        """A call got no answer: one more failure for the breaker, no verdict on the login."""
        self.breaker.record(ok=False)
        self._login.abandon()
        self._no_answer_health(why)

    def _no_answer_health(self, why: str) -> None:
        opened = self.breaker.state == "open"
        self._health(HubHealth.BREAKER_OPEN if opened else HubHealth.UNANSWERED, why)

    def _health(self, health: HubHealth, why: str) -> None:
        if health is not self.health:
            self.health = health
            if self.on_health is not None:
                self.on_health(health, why)

    def _refused(self, error: HubAuthFailed) -> None:
        """The hub refused our login: calls pause; a new refusal is reported."""
        self._login.record(ok=False)
        new = self._refusal is None or str(self._refusal) != str(error)
        self._refusal = error
        if new and self.on_login_refused is not None:
            self.on_login_refused(error)

    async def _pace(self) -> None:
        """Take the next free slot of the rate limit (calls from all tasks share it)."""
        if not self.max_rate_per_s:
            return
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.max_rate_per_s
        if slot > now:
            await asyncio.sleep(slot - now)

    def _too_long(self, result: HubResult) -> bool:
        asked = result.retry_after_s
        return asked is not None and asked > self.retry.max_retry_after_s

    async def _wait(
        self, attempt: int, result: HubResult | None, deadline: float | None = None
    ) -> bool:
        """Pause before try `attempt + 1` (as the hub asked, or the backoff); False, without a
        pause, when that try would start after `deadline` (event-loop time)."""
        asked = result.retry_after_s if result is not None else None
        pause = asked if asked is not None else self.retry.delay(attempt, self._rng)
        if deadline is not None and asyncio.get_running_loop().time() + pause >= deadline:
            return False
        await self._sleep(pause)
        return True


def _new_trx() -> str:
    return uuid.uuid4().hex

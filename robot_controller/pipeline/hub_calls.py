"""The hub, under invariant 3: every call is traced for the log, and a stored decommission is
sent through the resilience wrapper (which asks before it re-sends) and never blindly retried."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
import structlog.contextvars

from fmd.codes import PackIdentifier
from fmd.hub.contract import HubAuthFailed, HubResult, HubUnavailable, Reason
from fmd.hub.resilient import Attempt, SafeHub, traced
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import Intent

log = structlog.get_logger("fmd.pipeline")


@dataclass(frozen=True, slots=True)
class Sent:
    """A decommission's answer (None: unknown), the calls it took, and the intent's status."""

    result: HubResult | None
    calls: tuple[Attempt, ...]
    status: IntentStatus


async def ask(
    hub: SafeHub,
    operation: HubOperation,
    ui: PackIdentifier,
    trx: str,
    reason: Reason | None = None,
    *,
    deadline: float | None = None,
) -> tuple[HubResult | None, tuple[Attempt, ...]]:
    """One hub operation with its retries; the answer (None: none came) and every call made.
    A refused login is answered `login_failed` (the resilient hub has reported it once).
    `deadline` (event-loop time): no answer by then is no answer (a robot waits for ours)."""
    error: str | None = None
    result: HubResult | None = None
    with traced() as attempts:
        try:
            async with asyncio.timeout_at(deadline):
                result = await _operation(hub, operation, ui, trx, reason)
        except HubAuthFailed as exc:
            error = str(exc)
            result = HubResult("login_failed", exc.code, client_trx_id=trx, message=error)
        except HubUnavailable as exc:
            error = str(exc) or type(exc).__name__
        except TimeoutError:
            error = "no answer before the robot's deadline"
    log.info(
        f"hub.{operation}",
        trx=trx,
        calls=len(attempts),
        latency_ms=round(sum(a.latency_s for a in attempts) * 1000, 2),
        code=result.return_code if result else None,
        error=error,
    )
    return result, tuple(attempts)


async def _operation(
    hub: SafeHub, operation: HubOperation, ui: PackIdentifier, trx: str, reason: Reason | None
) -> HubResult:
    if operation is HubOperation.VERIFY:
        return await hub.verify(ui, trx=trx)
    if reason is None:
        raise ValueError(f"a hub {operation} needs a reason")
    if operation is HubOperation.CONFIRM:
        return await hub.confirm_or_decommission(ui, reason, trx=trx)
    if operation is HubOperation.DECOMMISSION:
        return await hub.decommission(ui, reason, trx=trx)
    raise ValueError(f"the pipeline does not send a hub {operation}")


async def send_intent(
    hub: SafeHub, intent: Intent, *, verify_first: bool = False, deadline: float | None = None
) -> Sent:
    """Send a stored decommission. `verify_first` is for an intent that may already have
    reached the hub (after a crash). The answer is None while the outcome is unknown (none by
    `deadline` either): the intent then stays pending."""
    if intent.reason is None:
        raise ValueError(f"outbox intent {intent.id} is a decommission without a reason")
    operation = HubOperation.CONFIRM if verify_first else HubOperation.DECOMMISSION
    result, calls = await ask(
        hub, operation, intent.ui, intent.client_trx_id, intent.reason, deadline=deadline
    )
    if result is None or result.outcome in ("technical", "rate_limited"):
        return Sent(None, calls, IntentStatus.PENDING)
    if result.outcome == "login_failed":  # nothing was applied by this call
        # one sent before a crash may have landed: it stays to be asked about; else, never sent
        return Sent(result, calls, IntentStatus.PENDING if verify_first else IntentStatus.CANCELLED)
    landed = result.outcome == "ok" and intent.reason in result.reasons
    return Sent(result, calls, IntentStatus.DONE if landed else IntentStatus.FAILED)

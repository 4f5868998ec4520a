"""Pure mapping between policy decisions, robot jobs and the pack's recorded route."""

from __future__ import annotations

from fmd.policy import Action, Decision, Why
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobReason, JobResult
from robot_controller.states import Route

_JOB_REASONS = {
    Why.ALERT: JobReason.FMD_ALERT,
    Why.INACTIVE: JobReason.FMD_ALERT,
    Why.DUPLICATE: JobReason.FMD_ALERT,
    Why.RECALLED: JobReason.FMD_ALERT,
    Why.WITHDRAWN: JobReason.FMD_ALERT,
    Why.REFUSED: JobReason.FMD_ALERT,
    Why.INVALID_REQUEST: JobReason.FMD_ALERT,
    Why.DECOMMISSION_FAILED: JobReason.FMD_ALERT,
    Why.EXPIRED: JobReason.EXPIRED,
    Why.EXPIRY_INVALID: JobReason.UNREADABLE,
    Why.UNKNOWN_PRODUCT: JobReason.UNKNOWN_PRODUCT,
    Why.NOT_SERIALISED: JobReason.UNKNOWN_PRODUCT,
    Why.UNREADABLE: JobReason.UNREADABLE,
    Why.DAMAGED_SCAN: JobReason.UNREADABLE,
    Why.HUB_UNAVAILABLE: JobReason.HUB_UNAVAILABLE,
    Why.HUB_LOGIN_FAILED: JobReason.HUB_UNAVAILABLE,
    Why.CHANGE_PENDING: JobReason.HUB_UNAVAILABLE,
    Why.INTERNAL_ERROR: JobReason.OPERATOR,  # the daemon failed: the operator looks at the pack
    Why.ROBOT_OUTCOME_UNKNOWN: JobReason.OPERATOR,
    Why.ROBOT_NOT_READY: JobReason.OPERATOR,
    Why.ROBOT_CONFLICT: JobReason.OPERATOR,
    Why.ROBOT_DISAGREES: JobReason.UNREADABLE,
    Why.BAD_REQUEST: JobReason.UNREADABLE,
}

_ROUTES = {
    JobResult.STORED: Route.SHELVED,
    JobResult.REJECTED: Route.REJECTED,
    JobResult.QUARANTINED: Route.QUARANTINED,
}


_NOT_MOVED = frozenset({JobResult.REFUSED_NOT_READY, JobResult.REFUSED_BAD_COMMAND})


def job_for(decision: Decision, token: int) -> Job | None:
    """The robot job that carries out a decision (None: the pack goes back to the operator)."""
    if decision.action is Action.RETURN:
        return None
    if decision.action is Action.SHELVE:
        return Job(JobCode.PLACE_ON_SHELF, token)
    code = (
        JobCode.DIVERT_TO_QUARANTINE
        if decision.action is Action.QUARANTINE
        else JobCode.DIVERT_TO_REJECT
    )
    return Job(code, token, _JOB_REASONS.get(decision.why, JobReason.OPERATOR))


def route_of(job: Job, outcome: JobOutcome | None) -> tuple[Route, bool]:
    """The route a pack really took, and whether the operator must check it.

    A job the robot refused never moved the pack: it is back in the operator's hand. Anything
    else the robot did not clearly report is flagged; the robot's own default for an unclear job
    is the reject chute, so that is where the operator looks first.
    """
    if outcome is not None and outcome.result in _NOT_MOVED:
        return Route.RETURNED, False
    if outcome is None or outcome.result not in _ROUTES:
        return Route.REJECTED, True
    route = _ROUTES[outcome.result]
    asked_to_shelve = job.code is JobCode.PLACE_ON_SHELF
    if route is Route.SHELVED and not asked_to_shelve:
        return route, True  # the robot shelved a pack it was told to divert: retrieve it
    if route is not Route.SHELVED and outcome.location:
        return route, True  # a chute with a shelf location: the report contradicts itself
    return route, route is not Route.SHELVED and asked_to_shelve

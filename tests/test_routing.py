"""Where a pack really went, from the job asked for and what the robot reported."""

from __future__ import annotations

import pytest

from fmd.policy import Action, Decision, Why
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobReason, JobResult
from robot_controller.routing import job_for, route_of

PLACE = Job(JobCode.PLACE_ON_SHELF, 1)
REJECT = Job(JobCode.DIVERT_TO_REJECT, 1, JobReason.FMD_ALERT)


@pytest.mark.parametrize(
    ("job", "outcome", "expected"),
    [
        (PLACE, JobOutcome(JobResult.STORED, location=17), ("shelved", False)),
        (REJECT, JobOutcome(JobResult.REJECTED), ("rejected", False)),
        (PLACE, JobOutcome(JobResult.REJECTED, fault=400), ("rejected", True)),
        (REJECT, JobOutcome(JobResult.STORED, location=17), ("shelved", True)),
        (REJECT, JobOutcome(JobResult.REJECTED, location=17), ("rejected", True)),
        (PLACE, JobOutcome(JobResult.FAILED, fault=200), ("rejected", True)),
        (PLACE, JobOutcome(JobResult.REFUSED_NOT_READY), ("returned", False)),
        (PLACE, None, ("rejected", True)),
    ],
    ids=[
        "stored-as-asked",
        "diverted-as-asked",
        "diverted-instead-of-stored",
        "stored-instead-of-diverted",
        "a-chute-with-a-shelf-location",
        "failed",
        "refused-so-never-moved",
        "outcome-unknown",
    ],
)
def test_the_route_and_whether_the_operator_must_check_it(
    job: Job, outcome: JobOutcome | None, expected: tuple[str, bool]
) -> None:
    assert route_of(job, outcome) == expected


@pytest.mark.parametrize("why", list(Why))
def test_every_diverting_reason_has_a_job_reason(why: Why) -> None:
    job = job_for(Decision(Action.REJECT, why), 1)
    assert job is not None
    assert job.code is JobCode.DIVERT_TO_REJECT
    assert job.reason is not JobReason.NONE


def test_an_internal_error_goes_to_the_reject_chute_for_the_operator() -> None:
    job = job_for(Decision(Action.REJECT, Why.INTERNAL_ERROR, "internal error: boom"), 7)
    assert job is not None
    assert (job.code, job.reason, job.token) == (JobCode.DIVERT_TO_REJECT, JobReason.OPERATOR, 7)

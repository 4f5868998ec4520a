"""Output tasks of the simulated robot and the messages about them (pure builders)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from simulators.wwks2.link import Link
from simulators.wwks2.settings import ShelfPack
from simulators.wwks2.shelf import output_pack, select_articles
from wwks2 import messages as m

FINISHED = (m.TaskStatus.COMPLETED, m.TaskStatus.INCOMPLETE, m.TaskStatus.ABORTED)


@dataclass(eq=False)
class Output:
    """One output task: its request, where it stands, the packs that left so far, and the
    future of its OutputMessage."""

    request: m.OutputRequest
    link: Link | None  # None: a manual output, reported to every connection
    status: m.TaskStatus = m.TaskStatus.QUEUED
    packs: list[ShelfPack] = field(default_factory=list)
    cancelled: bool = False
    message: asyncio.Future[m.OutputMessage] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def refused(
    request: m.OutputRequest, outputs: dict[str, Output], destinations: frozenset[int]
) -> bool:
    """Whether the robot rejects `request`: a criteria naming no pack attribute, an Id of a
    task still running, an OutputDestination not in `destinations` (when given)."""
    vague = any(
        c.article_id is None
        and c.pack_id is None
        and c.batch_number is None
        and c.serial_number is None
        and c.external_id is None
        for c in request.criteria
    )
    running = request.id in outputs and outputs[request.id].status not in FINISHED
    unknown = bool(destinations) and request.details.output_destination not in destinations
    return vague or running or unknown


def output_response(
    request: m.OutputRequest, subscriber: int, status: m.OutputAccepted
) -> m.OutputResponse:
    details = request.details
    return m.OutputResponse(
        id=request.id, source=subscriber, destination=request.source,
        details=m.OutputResponseDetails(
            priority=details.priority, output_destination=details.output_destination,
            output_point=details.output_point, status=status,
        ),
        box_number=request.box_number, criteria=request.criteria,
    )  # fmt: skip


def output_message(output: Output, subscriber: int) -> m.OutputMessage:
    """The OutputMessage of a finished task (Destination 0: set per connection)."""
    details = output.request.details
    destination = details.output_destination
    return m.OutputMessage(
        id=output.request.id, source=subscriber, destination=0,
        details=m.OutputMessageDetails(
            priority=details.priority, output_destination=destination,
            output_point=details.output_point, status=m.OutputStatus(output.status.value),
        ),
        articles=tuple(
            m.OutputArticle(id=article, packs=tuple(output_pack(p, destination) for p in packs))
            for article, packs in select_articles(output.request.criteria, output.packs)
        ),
    )  # fmt: skip


def task_info_response(
    request: m.TaskInfoRequest, subscriber: int, output: Output | None
) -> m.TaskInfoResponse:
    status = output.status if output is not None else m.TaskStatus.UNKNOWN
    articles: tuple[m.TaskInfoArticle, ...] = ()
    if output is not None and request.include_task_details:
        destination = output.request.details.output_destination
        articles = tuple(
            m.TaskInfoArticle(
                id=article or "", quantity=len(packs),
                packs=tuple(output_pack(p, destination) for p in packs),
            )
            for article, packs in select_articles(output.request.criteria, output.packs)
        )  # fmt: skip
    return m.TaskInfoResponse(
        id=request.id, source=subscriber, destination=request.source,
        task=m.TaskState(request.task.id, request.task.type, status, articles),
    )  # fmt: skip


def cancel(
    request: m.TaskCancelRequest, subscriber: int, outputs: dict[str, Output]
) -> m.TaskCancelResponse:
    """Mark each task of `request` cancelled when it has not finished; the answer per task
    (Unknown: no such task; CancelError: finished or cancelled already)."""
    answers = []
    for task in request.tasks:
        output = outputs.get(task.id)
        if output is None:
            status = m.CancelStatus.UNKNOWN
        elif output.status in FINISHED or output.cancelled:
            status = m.CancelStatus.CANCEL_ERROR
        else:
            output.cancelled = True
            status = m.CancelStatus.CANCELLED
        answers.append(m.CancelledTask(task.type, task.id, status))
    return m.TaskCancelResponse(
        id=request.id, source=subscriber, destination=request.source, tasks=tuple(answers)
    )

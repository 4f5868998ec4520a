"""The live feed for API clients: `GET /api/v1/events`, one server-sent `pack` event a pack.

Each event's `id` is the feed's `seq` and its `data` the pack as JSON (`PackEvent.as_json`,
documented as `PackEventOut`). A client that reconnects (`Last-Event-ID`, or `?after=SEQ`) is
first sent the kept events it missed. A client more than the feed's backlog behind is dropped
(its stream ends; it reconnects), so it never slows the loading; every stream ends when the
server stops (`WebServer.aclose` closes the feed).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event
from pydantic import BaseModel, Field

from robot_controller.web.access import SIGNED_IN, Principal
from robot_controller.web.feed import LiveFeed, PackEvent
from robot_controller.web.services import WebServices
from robot_controller.web.sse import PING_S, SSE_HEADERS, Resume

router = APIRouter(prefix="/api/v1", tags=["live"])
SignedIn = Annotated[Principal, Depends(SIGNED_IN)]
EVENT = "pack"


class PackEventOut(BaseModel):
    """A pack's outcome, the moment the pipeline routed it (the data of a `pack` event)."""

    seq: int = Field(description="The feed's own order, from 1 (also the event's id).")
    at: str = Field(description="When the pipeline routed it (ISO 8601, UTC).")
    token: int = Field(description="The pack scan's token (its history: /api/v1/packs/TOKEN).")
    route: str = Field(description="shelved, rejected, quarantined, …")
    outcome: str = Field(description="The route in the bench's words.")
    icon: str
    why: str = Field(description="The reason's code.")
    reason: str = Field(description="The reason in the bench's words.")
    instruction: str = Field(description="What the person at the bench does with the pack.")
    flagged: bool = Field(description="The operator must check this pack.")
    message: str
    product_name: str = Field(
        description="The product's name: the national system's, else the site's (\"\": none)."
    )
    product_code: str | None
    serial: str | None
    batch: str | None
    expiry: str | None = Field(description="ISO date, or the six digits as printed.")


def _item_schema() -> dict[str, Any]:
    data = PackEventOut.model_json_schema()
    return {
        "required": ["event", "id", "data"],
        "properties": {
            "event": {"type": "string", "const": EVENT},
            "id": {"type": "string", "description": "The pack's seq: resume after it."},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
        },
    }


@lru_cache(maxsize=1024)
def _encoded(event: PackEvent) -> bytes:
    """An event on the wire, encoded once for every client it goes to."""
    data = json.dumps(event.as_json(), ensure_ascii=False, separators=(",", ":"))
    return format_sse_event(data_str=data, event=EVENT, id=str(event.seq))


async def _stream(feed: LiveFeed, after: int | None) -> AsyncIterator[bytes]:
    async for event in feed.follow_or_quiet(after=after, quiet_s=PING_S):
        yield KEEPALIVE_COMMENT if event is None else _encoded(event)


@router.get(
    "/events",
    response_class=StreamingResponse,  # not EventSourceResponse: that makes a generator route
    responses={
        200: {
            "description": "A `pack` event for each routed pack (a `: ping` comment when quiet).",
            "content": {"text/event-stream": {"itemSchema": _item_schema()}},
        }
    },
)
async def events(request: Request, who: SignedIn, after: Resume) -> EventSourceResponse:
    """Each pack's outcome as it happens, as server-sent events; first the kept ones after
    `Last-Event-ID` (or `after`) when given."""
    services: WebServices = request.app.state.services
    return EventSourceResponse(_stream(services.feed, after), headers=SSE_HEADERS)

"""What every server-sent event stream of the screens shares: where a client resumes, how often
a quiet stream pings, the headers.

An EventSource that lost its stream reconnects by itself and sends the `id` of the last event
it got as the `Last-Event-ID` header; a client can also ask `?after=SEQ`. The header wins (it is
newer than the URL the EventSource was opened with). A stream route returns an
`EventSourceResponse` over bytes it encodes once per event for every client (FastAPI's
generator routes would serialise each event again for each client, through three tasks: that
doubled the daemon's CPU per pack with 20 clients, `bench/web.py`), with `PING_S` between
keep-alive comments (`LiveFeed.follow_or_quiet` says when).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query

MAX_SEQ = 2**63 - 1
PING_S = 15.0
"""A keep-alive comment (`: ping`) after this long without an event, as FastAPI's own SSE."""
SSE_HEADERS = {"X-Accel-Buffering": "no"}
"""Not buffered by a proxy (as FastAPI's SSE routes; the app's answers are never cached)."""
_AFTER = (
    "Start after this event id (seq): the kept events after it are sent first (none: new ones)."
)
_LAST = "Sent by a reconnecting EventSource: resume after this event id (wins over `after`)."


def resume_after(
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_SEQ, description=_AFTER),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(description=_LAST),
    ] = None,
) -> int | None:
    """The seq a stream resumes after (None: new events only); 422 for a malformed id."""
    if last_event_id is None or not last_event_id.strip():
        return after
    text = last_event_id.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_SEQ:
        raise HTTPException(422, f"Last-Event-ID: an event id is a whole number, not {text[:40]!r}")
    return int(text)


Resume = Annotated[int | None, Depends(resume_after)]
"""A stream route's parameter: the seq to resume after (`Last-Event-ID`, else `?after=`)."""

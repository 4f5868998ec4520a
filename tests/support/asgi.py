"""One request to an ASGI app, answered as far as its status line: enough for a refusal or a
stream that never ends (the live feed), which an httpx client would wait out."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Scope


@dataclass(frozen=True)
class Head:
    """A response's status and headers (names in lower case)."""

    status: int
    headers: dict[str, str]


async def head_of(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Head:
    """The status and headers `app` answers `method path` with; the app is then stopped."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("fmd.test", 80),
    }
    started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    parts: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if parts:
            return parts.pop()
        await started  # the client stays until the answer starts, then leaves
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message)

    task: asyncio.Future[None] = asyncio.ensure_future(app(scope, receive, send))
    either: list[asyncio.Future[Any]] = [task, started]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if not started.done():
        raise AssertionError(f"{method} {path}: the app ended without an answer")
    message = started.result()
    return Head(
        message["status"],
        {k.decode().lower(): v.decode() for k, v in message.get("headers", [])},
    )

"""Fault injection for the hub simulator: an ASGI middleware that misbehaves like a real network.

Each request to a dialect endpoint draws at most one fault from a seeded generator, so a run is
reproducible. Faults that happen *after* the request was processed (a lost reply, a truncated
body) are the ones that make a careless client decommission a pack twice.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, fields
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Fault = Literal["throttle", "error", "hang", "malformed", "drop", "lost_reply", "truncated"]


@dataclass
class Faults:
    """Probabilities per request (0…1) of each fault, plus added latency. All off by default."""

    latency_s: float = 0.0
    throttle_rate: float = 0.0  # 429 with Retry-After, nothing processed
    retry_after_s: int = 1
    error_rate: float = 0.0  # 503, nothing processed
    hang_rate: float = 0.0  # no answer for `hang_s`: the client's read timeout fires
    hang_s: float = 30.0
    malformed_rate: float = 0.0  # 200 with a body that is not XML or JSON, nothing processed
    drop_rate: float = 0.0  # the connection closes before any body, nothing processed
    lost_reply_rate: float = 0.0  # processed, then the connection closes before the reply
    truncated_rate: float = 0.0  # processed, then half the reply body

    def update(self, changes: dict[str, Any]) -> None:
        """Set the named fields (unknown names or bad values raise ValueError)."""
        known = {f.name for f in fields(self)}
        checked: dict[str, float] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}")
            number = float(value)
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"{name} must be a finite number, not negative")
            if name.endswith("_rate") and number > 1.0:
                raise ValueError(f"{name} must be within 0…1")
            checked[name] = number
        for name, number in checked.items():  # all or nothing
            setattr(self, name, int(number) if name == "retry_after_s" else number)

    def draw(self, rng: random.Random) -> Fault | None:
        """The fault for one request, or None."""
        roll = rng.random()
        for fault, rate in (
            ("throttle", self.throttle_rate),
            ("error", self.error_rate),
            ("hang", self.hang_rate),
            ("malformed", self.malformed_rate),
            ("drop", self.drop_rate),
            ("lost_reply", self.lost_reply_rate),
            ("truncated", self.truncated_rate),
        ):
            if roll < rate:
                return fault  # type: ignore[return-value]
            roll -= rate
        return None


class FaultInjector:
    """ASGI middleware applying `faults` to requests whose path starts with one of `prefixes`."""

    def __init__(
        self, app: ASGIApp, faults: Faults, *, seed: int, prefixes: tuple[str, ...]
    ) -> None:
        self.app = app
        self.faults = faults
        self.prefixes = prefixes
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not secrets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
        fault = self.faults.draw(self._rng)
        if fault is None:
            await self.app(scope, receive, send)
        elif fault == "throttle":
            headers = [(b"retry-after", str(self.faults.retry_after_s).encode())]
            await _reply(send, 429, b"too many requests", headers)
        elif fault == "error":
            await _reply(send, 503, b"service unavailable")
        elif fault == "hang":
            await asyncio.sleep(self.faults.hang_s)
            await _reply(send, 504, b"gateway timeout")
        elif fault == "malformed":
            await _reply(
                send, 200, b"<<this is {not a valid body", [(b"content-type", b"text/xml")]
            )
        elif fault == "drop":
            await _drop(send)
        else:  # processed first: the hub applied the change, the client never hears of it
            captured = await _capture(self.app, scope, receive)
            if fault == "lost_reply":
                await _drop(send)
            else:
                status, headers, body = captured
                kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                await _reply(send, status, body[: len(body) // 2], kept)


async def _capture(
    app: ASGIApp, scope: Scope, receive: Receive
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    body = bytearray()

    async def keep(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, keep)
    return status, headers, bytes(body)


async def _reply(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*(headers or []), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class DroppedConnection(Exception):
    """Raised after the headers went out, so the server closes the connection mid-reply."""


async def _drop(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"4096"), (b"content-type", b"text/xml")],
        }
    )
    raise DroppedConnection("fault injected: connection dropped before the reply")

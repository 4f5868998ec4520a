"""Runs store calls on one thread with group commit, so the event loop never waits on a disk.

Calls that queue up while a transaction commits share the next transaction; each caller's
await returns only after the transaction holding its call has committed, so durability per
step (invariant 2) holds while a busy pipeline pays for one commit per batch, not per step.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ParamSpec, TypeVar

from robot_controller.store.store import Store

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(slots=True)
class _Call:
    run: Callable[[], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class StoreRunner:
    """The store's own thread. Use `await runner.call(store.method, …)` from the event loop."""

    def __init__(self, store: Store, *, max_batch: int = 128) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="fmd-store", daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Call(partial(fn, *args, **kwargs), future, loop))
        return await future

    async def aclose(self) -> None:
        """Finish the calls already queued, then stop the thread."""
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _work(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._settle(batch, self._run(batch))
            if stopping:
                return

    def _run(self, batch: list[_Call]) -> list[tuple[bool, Any]]:
        """All calls in one transaction; if it fails, each call again in its own."""
        try:
            with self.store.batch():
                values = [call.run() for call in batch]
            return [(True, value) for value in values]
        except Exception as error:  # noqa: BLE001 - handed to each caller, never swallowed
            if len(batch) == 1:
                return [(False, error)]
            return [self._alone(call) for call in batch]

    def _alone(self, call: _Call) -> tuple[bool, Any]:
        try:
            with self.store.batch():  # a call of several steps stays one transaction
                return True, call.run()
        except Exception as error:  # noqa: BLE001 - handed to its caller, never swallowed
            return False, error

    @staticmethod
    def _settle(batch: list[_Call], results: list[tuple[bool, Any]]) -> None:
        """Wake each event loop once per batch, not once per call."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for call, (ok, value) in zip(batch, results, strict=True):
            by_loop.setdefault(call.loop, []).append((call.future, ok, value))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_resolve, settled)


def _resolve(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

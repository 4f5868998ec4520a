"""What both wire dialects share: an HTTP connection pool closed once, also as a context manager."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx


class WireClient:
    """Base of the dialect clients: owns `self._http` (set by the subclass) and closes it."""

    _http: httpx.AsyncClient

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

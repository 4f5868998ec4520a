"""The API's refusals as its schema documents them: `{"detail": "one line"}` with the status
(`app.py` writes them; this names them for `/openapi.json`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel

RowId = Annotated[int, Path(ge=0, le=2**63 - 1)]
"""A path's alert or pack number: one the store's 64-bit ids can hold (a bigger one is a 422,
not a database error)."""

_WHAT = {
    401: "Not signed in (no, an unknown or a revoked token).",
    403: "The caller's role may not do this (or a browser's CSRF token is missing).",
    404: "No such alert, pack or report.",
    409: "The rules refuse it now; the detail is their words. Nothing changed.",
    422: "A bad or missing parameter; the detail names it. Nothing changed.",
}


class Refusal(BaseModel):
    detail: str


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer with these refusals (and 401, 403)."""
    return {status: {"model": Refusal, "description": _WHAT[status]}
            for status in sorted({401, 403, *statuses})}  # fmt: skip

"""The API's refusals as its schema documents them: `{"detail": "one line"}` with the status
(`app.py` writes them; this names them for `/openapi.json`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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

"""The hub simulator's ASGI app: both NMVS dialects over one `MockHub`, an admin API, faults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Body, FastAPI, HTTPException
from starlette.types import ASGIApp

from fmd.hub import MockHub
from simulators.hub.accounts import AccountBook, Accounts
from simulators.hub.faults import FaultInjector, Faults

SOAP_PREFIX = "/soap"
REST_PREFIX = "/rest"
REST_API = f"{REST_PREFIX}/api"
DIALECTS = ("soap", "rest")


def create_app(
    hub: MockHub,
    *,
    faults: Faults | None = None,
    accounts: Accounts | AccountBook | None = None,
    dialects: Sequence[str] = DIALECTS,
    seed: int = 0,
    strict_media_type: bool = False,
) -> ASGIApp:
    """The app: `/soap/…` (Arvato SOAP 1.2), `/rest/…` (Solidsoft REST), `/admin/…`.
    `accounts` may be a book that changes while the app runs; `strict_media_type` makes the
    SOAP side refuse `text/xml`."""
    unknown = set(dialects) - set(DIALECTS)
    if unknown:
        raise ValueError(f"unknown dialect(s): {', '.join(sorted(unknown))}")
    faults = faults or Faults()
    book = accounts if isinstance(accounts, AccountBook) else AccountBook(accounts)
    app = FastAPI(title="fmd-robot NMVS simulator", docs_url=None, redoc_url=None)
    if "soap" in dialects:
        from simulators.hub.soap import soap_router

        router = soap_router(hub, book, strict_media_type=strict_media_type)
        app.include_router(router, prefix=SOAP_PREFIX)
    if "rest" in dialects:
        from simulators.hub.rest import rest_router

        app.include_router(rest_router(hub, book), prefix=REST_PREFIX)
    app.include_router(admin_router(hub, faults, book), prefix="/admin")
    return FaultInjector(app, faults, seed=seed, prefixes=(SOAP_PREFIX, REST_API))


def admin_router(hub: MockHub, faults: Faults, book: AccountBook) -> APIRouter:
    """Counters for tests (every applied state change, refused logins) and fault settings at
    run time."""
    router = APIRouter()

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        by_pack = hub.state_changes_by_pack
        return {
            "transactions": hub.transactions,
            "state_changes": hub.state_changes,
            "most_changes_of_one_pack": max(by_pack.values(), default=0),
            "alerts": len(hub.alerts),
            "refused_logins": book.refused,
        }

    @router.get("/faults")
    def get_faults() -> dict[str, Any]:
        return dict(vars(faults))

    @router.put("/faults")
    def put_faults(changes: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        try:
            faults.update(changes)
        except (TypeError, ValueError) as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return dict(vars(faults))

    return router

"""The FastAPI app: security headers, errors in words (JSON for the API, a page for people),
the static files, and the routers of each screen and of the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from robot_controller import __version__
from robot_controller.web import (
    alerts,
    bench,
    compliance,
    events,
    login,
    ops,
    pack_actions,
    people,
    reports,
    robot_page,
)
from robot_controller.web.access import AccessError, NotSignedIn, check_guarded
from robot_controller.web.pages import render, wants_json
from robot_controller.web.services import WebServices

STATIC = Path(__file__).with_name("static")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
log = structlog.get_logger("fmd.web")


class SecurityHeaders:
    """Every response gets the strict CSP and its companions; pages and API answers are not
    cached (static files are)."""

    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        self.extra = [(b"strict-transport-security", b"max-age=31536000")] if tls else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _HEADERS + self.extra
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(services: WebServices) -> FastAPI:
    """The app over `services`; refuses to build if a route declares no access rule."""
    app = FastAPI(
        title="fmd-robot",
        version=__version__,
        summary="FMD verification for pharmacy dispensing robots: bench, robot, compliance.",
        docs_url=None,  # the Swagger page loads its scripts from a CDN: not here
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    app.add_middleware(SecurityHeaders, tls=services.config.web.tls)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (
        login,
        bench,
        robot_page,
        compliance,
        ops,
        people,
        alerts,
        pack_actions,
        reports,
        events,
    ):
        app.include_router(module.router)
    app.add_exception_handler(AccessError, _access_refused)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal)
    check_guarded(app)
    _document_invalid(app)
    return app


def _document_invalid(app: FastAPI) -> None:
    """The schema's 422 is what `_invalid` answers — the problems in one line and as a list —,
    not FastAPI's default (a list as the detail)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        invalid = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if invalid is not None:
            invalid["properties"] = {
                "detail": {"type": "string", "title": "Detail"},
                "problems": invalid["properties"]["detail"] | {"title": "Problems"},
            }
            invalid["required"] = ["detail"]  # a route's own 422 names one problem
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _access_refused(request: Request, error: AccessError) -> Response:
    log.info("web.refused", path=request.url.path, status=error.status, reason=error.message)
    if wants_json(request):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, NotSignedIn) else None
        return JSONResponse({"detail": error.message}, error.status, headers=headers)
    if isinstance(error, NotSignedIn):
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render(request, "error.html", status=error.status, message=error.message)


async def _http_error(request: Request, error: HTTPException) -> Response:
    routing = error.status_code == 404 and error.detail == "Not Found"  # no route: our words
    message = "no such page or resource" if routing else str(error.detail)
    if wants_json(request):
        return JSONResponse({"detail": message}, error.status_code, headers=error.headers)
    return render(request, "error.html", status=error.status_code, message=message)


async def _invalid(request: Request, error: RequestValidationError) -> Response:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
        for e in error.errors()
    )
    if wants_json(request):
        return JSONResponse({"detail": problems, "problems": jsonable_encoder(error.errors())}, 422)
    return render(request, "error.html", status=422, message=problems)


async def _internal(request: Request, error: Exception) -> Response:
    log.error("web.internal_error", path=request.url.path, error=repr(error), exc_info=error)
    message = "internal error: the request failed (the daemon's log has the details)"
    if wants_json(request):
        return JSONResponse({"detail": message}, 500)
    return render(request, "error.html", status=500, message=message)

"""Rendering pages: the templates, what every page is given, and who wants JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from robot_controller.users import Role
from robot_controller.web.access import Principal

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))

NAV = (
    ("/bench", "Bench", frozenset(Role)),
    ("/robot", "Robot", frozenset(Role)),
    ("/compliance", "Compliance", frozenset({Role.COMPLIANCE, Role.ADMIN})),
    ("/people", "People", frozenset({Role.ADMIN})),
)
"""The header's links, each shown to the roles that may open it."""

HOME = {Role.OPERATOR: "/bench", Role.COMPLIANCE: "/compliance", Role.ADMIN: "/bench"}


def wants_json(request: Request) -> bool:
    """An API client's request (JSON answers: an API path, or a token in its header), not a
    person's (pages)."""
    if "authorization" in request.headers:
        return True
    path = request.url.path
    return path.startswith(("/api/", "/metrics", "/openapi")) or path in ("/healthz", "/readyz")


def principal_of(request: Request) -> Principal | None:
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page (or an htmx fragment) from `template`, with who is signed in, their links and the
    CSRF token every form carries."""
    principal = principal_of(request)
    role = principal.user.role if principal else None
    services = request.app.state.services
    response: HTMLResponse = templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "csrf": principal.session.csrf if principal and principal.session else "",
            "nav": [(href, name) for href, name, roles in NAV if role in roles],
            "site": services.config.site,
            "robot_name": services.robot_name,
            "status": status,
            **context,
        },
        status_code=status,
    )
    return response

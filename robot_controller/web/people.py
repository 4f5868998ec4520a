"""The people who may sign in, for an admin: listed, added (the token shown once), revoked."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from robot_controller.users import Role, User, UserRefused
from robot_controller.web.access import ADMINISTER, Principal
from robot_controller.web.pages import render
from robot_controller.web.services import WebServices, services_of

router = APIRouter()
Admin = Annotated[Principal, Depends(ADMINISTER)]


class UserOut(BaseModel):
    name: str
    role: Role
    token_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            name=user.name,
            role=user.role,
            token_prefix=user.token_prefix,
            created_at=user.created_at,
            last_used_at=user.last_used_at,
            revoked_at=user.revoked_at,
        )


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role


class Added(BaseModel):
    user: UserOut
    token: str = Field(description="The person's token: shown this once, kept only as a hash.")


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


async def _add(services: WebServices, name: str, role: Role, actor: str) -> tuple[User, str]:
    try:
        return await asyncio.to_thread(
            services.store.add_user, name, role, actor=actor, at=services.now()
        )
    except UserRefused as error:
        raise HTTPException(409, str(error)) from None


async def _revoke(services: WebServices, name: str, reason: str, actor: str) -> User:
    if not reason.strip():
        raise HTTPException(422, "reason: say why the token is revoked (the audit log keeps it)")
    try:
        user = await asyncio.to_thread(
            services.store.revoke_user, name, actor=actor, why=reason.strip(), at=services.now()
        )
    except UserRefused as error:
        status = 404 if "no user" in str(error) else 409
        raise HTTPException(status, str(error)) from None
    services.sessions.end_all_of(user.id)
    return user


@router.get("/api/v1/users", response_model=list[UserOut])
async def list_users(request: Request, who: Admin) -> list[UserOut]:
    users = await asyncio.to_thread(services_of(request).store.users)
    return [UserOut.of(user) for user in users]


@router.post("/api/v1/users", response_model=Added, status_code=201)
async def add_user(request: Request, who: Admin, new: NewUser) -> Added:
    user, token = await _add(services_of(request), new.name, new.role, who.actor)
    return Added(user=UserOut.of(user), token=token)


@router.post("/api/v1/users/{name}/revoke", response_model=UserOut)
async def revoke_user(request: Request, who: Admin, name: str, revocation: Revocation) -> UserOut:
    return UserOut.of(await _revoke(services_of(request), name, revocation.reason, who.actor))


@router.get("/people", include_in_schema=False)
async def people_page(request: Request, who: Admin) -> HTMLResponse:
    users = await asyncio.to_thread(services_of(request).store.users)
    return render(request, "people.html", users=users, roles=list(Role), added=None, message="")


@router.post("/people", include_in_schema=False)
async def people_add(
    request: Request,
    who: Admin,
    name: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    services = services_of(request)
    added, message, status = None, "", 200
    try:
        added = await _add(services, name, Role(role), who.actor)
    except ValueError:
        message, status = f"role: one of {', '.join(Role)}", 422
    except HTTPException as error:
        message, status = str(error.detail), error.status_code
    users = await asyncio.to_thread(services.store.users)
    return render(request, "people.html", status=status, users=users, roles=list(Role),
                  added=added, message=message)  # fmt: skip


@router.post("/people/{name}/revoke", include_in_schema=False)
async def people_revoke(
    request: Request,
    who: Admin,
    name: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    services = services_of(request)
    message, status = "", 200
    try:
        user = await _revoke(services, name, reason, who.actor)
        message = f"{user.name}'s token is revoked; their sessions have ended."
    except HTTPException as error:
        message, status = str(error.detail), error.status_code
    users = await asyncio.to_thread(services.store.users)
    return render(request, "people.html", status=status, users=users, roles=list(Role),
                  added=None, message=message)  # fmt: skip

"""The `web_users` rows: people with a role and the hash of their token (each change audited)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from robot_controller.store.audit import actor_event
from robot_controller.store.schema import web_users
from robot_controller.store.transactions import Written
from robot_controller.users import PREFIX_SHOWN, Role, User, UserRefused


def user_of(row: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        token_prefix=row.token_prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def add(
    conn: Connection, name: str, role: Role, hashed: str, token: str, *, actor: str, at: datetime
) -> Written[User]:
    """A new user; `UserRefused` when the name is taken (revoked names stay taken: the log
    names people, and one name must mean one person)."""
    if conn.execute(sa.select(web_users.c.id).where(web_users.c.name == name)).first():
        raise UserRefused(f"user {name!r} exists already (a revoked name is not reused)")
    prefix = token[:PREFIX_SHOWN]
    row = {
        "name": name,
        "role": role.value,
        "token_hash": hashed,
        "token_prefix": prefix,
        "created_at": at,
    }
    user_id = conn.execute(web_users.insert().values(row)).inserted_primary_key[0]  # type: ignore[index]
    user = User(int(user_id), name, role, prefix, at)
    event = actor_event(at, actor, "user.added", f"user:{name}", "access granted",
                        after={"role": role.value, "token_prefix": prefix})  # fmt: skip
    return Written(user, (event,))


def revoke(conn: Connection, name: str, *, actor: str, why: str, at: datetime) -> Written[User]:
    """Revoke a user's token (its sessions end with it); `UserRefused` when there is no such
    user or it is revoked already."""
    row = conn.execute(sa.select(web_users).where(web_users.c.name == name)).first()
    if row is None:
        raise UserRefused(f"no user {name!r} (`fmd-robot users list` shows them)")
    if row.revoked_at is not None:
        raise UserRefused(f"user {name!r} was revoked already, at {row.revoked_at:%Y-%m-%d %H:%M}")
    conn.execute(web_users.update().where(web_users.c.id == row.id).values(revoked_at=at))
    after = {"revoked_at": at.isoformat()}
    event = actor_event(at, actor, "user.revoked", f"user:{name}", why,
                        before={"revoked_at": None}, after=after)  # fmt: skip
    return Written(replace(user_of(row), revoked_at=at), (event,))


def listed(conn: Connection) -> list[User]:
    return [user_of(r) for r in conn.execute(sa.select(web_users).order_by(web_users.c.id))]


def by_token_hash(conn: Connection, hashed: str) -> User | None:
    row = conn.execute(sa.select(web_users).where(web_users.c.token_hash == hashed)).first()
    return None if row is None else user_of(row)


def by_id(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(sa.select(web_users).where(web_users.c.id == user_id)).first()
    return None if row is None else user_of(row)


def touch(conn: Connection, user_id: int, at: datetime) -> Written[None]:
    """When the user was last seen (not an audited change: no event)."""
    conn.execute(web_users.update().where(web_users.c.id == user_id).values(last_used_at=at))
    return Written(None, ())

"""The people who use the screens and the API: one token each, with a role.

A token is 256 random bits with a readable prefix naming its role (`fmd_op_…`), shown once when
it is made and kept only as its SHA-256 (a fast hash is enough for a secret this long; no
password is ever stored). The rules of what each role may do are `robot_controller.web.access`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """What a person may do: operate the bench and the robot, review compliance, or both and
    manage the people (admin)."""

    OPERATOR = "operator"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


_PREFIX = {Role.OPERATOR: "fmd_op_", Role.COMPLIANCE: "fmd_co_", Role.ADMIN: "fmd_ad_"}
PREFIX_SHOWN = 12
"""How much of a token a list shows (its prefix and a few characters): enough to tell two apart."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}")


class UserRefused(ValueError):
    """A user that cannot be added or revoked as asked (one line saying why)."""


@dataclass(frozen=True, slots=True)
class User:
    """A person's account, as the store keeps it (never the token)."""

    id: int
    name: str
    role: Role
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def new_token(role: Role) -> str:
    """A fresh token for a person of `role`: its role's prefix and 256 random bits."""
    return _PREFIX[role] + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def checked_name(name: str) -> str:
    """A person's name as it is kept (trimmed); `UserRefused` when it is empty, too long or
    holds characters a log line or a page should not carry."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise UserRefused(
            f"user name {name!r}: 1 to 64 letters, digits, spaces or . _ @ -, starting with a "
            "letter or digit"
        )
    return name

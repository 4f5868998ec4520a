"""`fmd-robot users`: the people who may use the screens and the API, one token each.

`users add` prints the token once (the store keeps only its hash); `users revoke` ends it and
every session signed in with it. Each change is an audit event with who made it.
"""

from __future__ import annotations

import getpass
import sys
from contextlib import closing
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from robot_controller.cli_common import ConfigOption, existing_store, person_text, settings_of
from robot_controller.config import ConfigError
from robot_controller.console import err, fail, json_lines, line, out
from robot_controller.pipeline import utc_now
from robot_controller.store import StoreError
from robot_controller.users import Role, User, UserRefused, checked_name
from robot_controller.wiring import open_store

users_app = typer.Typer(
    help="The people who may use the screens and the API: one token each, with a role.",
    no_args_is_help=True,
)
NameArgument = Annotated[str, typer.Argument(help="The person's name, as the log will show it.")]
ActorOption = Annotated[
    str | None,
    typer.Option("--actor", help="Who makes the change (default: this shell's login name)."),
]


def _actor(actor: str | None) -> str:
    return person_text("--actor", actor).strip() if actor else f"cli:{getpass.getuser()}"


@users_app.command("add")
def users_add(
    name: NameArgument,
    role: Annotated[Role, typer.Option("--role", help="operator, compliance or admin.")],
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Add a person and print their token, once: give it to them, it is not shown again."""
    settings = settings_of(config)
    who = _actor(actor)
    try:
        name = checked_name(person_text("NAME", name))  # before a store is made for it
        with closing(open_store(settings.store.url, location=settings.site.location)) as store:
            user, token = store.add_user(name, role, actor=who, at=utc_now())
    except (UserRefused, ConfigError, StoreError) as error:
        raise fail(str(error)) from None
    err.print(line("added ", (user.name, "bold"), f" as {user.role.value}; their token, shown "
                   "once (on standard output):"))  # fmt: skip
    sys.stdout.write(token + "\n")


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
) -> None:
    """Every person, revoked ones too, with their role and when they last used their token."""
    with existing_store(settings_of(config), read_only=True) as store:
        users = store.users()
    if as_json:
        json_lines(_user_json(user) for user in users)
        return
    if not users:
        out.print("no users yet: `fmd-robot users add NAME --role admin`", highlight=False)
        return
    table = Table("name", "role", "token", "added", "last used", "state")
    for user in users:
        table.add_row(
            Text(user.name),
            user.role.value,
            Text(user.token_prefix + "…"),
            f"{user.created_at:%Y-%m-%d %H:%M}",
            f"{user.last_used_at:%Y-%m-%d %H:%M}" if user.last_used_at else "never",
            "active" if user.active else f"revoked {user.revoked_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@users_app.command("revoke")
def users_revoke(
    name: NameArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")],
    actor: ActorOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke a person's token: it, and every session signed in with it, stops working."""
    why = person_text("--reason", reason).strip()
    if not why:
        raise fail("--reason: say why the token is revoked (it is kept in the audit log)")
    with existing_store(settings_of(config)) as store:
        try:
            user = store.revoke_user(name, actor=_actor(actor), why=why, at=utc_now())
        except UserRefused as error:
            raise fail(str(error)) from None
    out.print(line("revoked ", (user.name, "bold"), f" ({user.role.value})"))


def _user_json(user: User) -> dict[str, object]:
    return {
        "name": user.name,
        "role": user.role.value,
        "token_prefix": user.token_prefix,
        "created_at": user.created_at.isoformat(),
        "last_used_at": user.last_used_at.isoformat() if user.last_used_at else None,
        "revoked_at": user.revoked_at.isoformat() if user.revoked_at else None,
    }

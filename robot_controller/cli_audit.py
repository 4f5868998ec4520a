"""`fmd-robot audit keygen | verify | checkpoint` and `fmd-robot log prune`: the provable log
from the command line."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from robot_controller.cli_common import ConfigOption, existing_store, person_text, settings_of
from robot_controller.cli_log_app import log_app
from robot_controller.cli_pack import JsonOption
from robot_controller.config import ConfigError
from robot_controller.console import fail, line, out
from robot_controller.logs import configure_logging
from robot_controller.pipeline import utc_now
from robot_controller.proof.configured import (
    checkpoint_folder,
    checkpointer,
    retention,
    signing_key,
    trusted_keys,
)
from robot_controller.proof.keys import KeyExists, generate, public_file
from robot_controller.proof.retention import PruneOutcome, PruneRefused, prune_log
from robot_controller.proof.verify import UNREADABLE, Report, count, unreadable, verdict, verify
from robot_controller.store import StoreError

audit_app = typer.Typer(
    help="The provable log: its signing key, its checkpoints, and proof it was not altered.",
    no_args_is_help=True,
)

T = TypeVar("T")


@audit_app.command("keygen")
def audit_keygen(
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="The private key's file (default: the configured audit.key)."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Make an Ed25519 key that signs checkpoints: FILE (mode 0600) and its public key
    FILE.pub (for whoever checks the log). An existing file is never overwritten."""
    path = out_file
    if path is None:
        settings = settings_of(config)
        path = settings.audit.key_file(settings.store.url)
    try:
        key = generate(path)
    except KeyExists as error:
        raise fail(str(error)) from None
    except OSError as error:
        raise fail(f"cannot write {path}: {error.strerror or error}") from None
    out.print(
        f"key {key.public.key_id} written to {path} (mode 0600), its public key to "
        f"{public_file(path)}: name it in [audit] key, give the .pub to whoever checks the log",
        highlight=False,
        soft_wrap=True,
    )


@audit_app.command("verify")
def audit_verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="The folder of checkpoint files (default: the configured one)."),
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option(
            help="A public key file to check against (repeatable; default: the configured key's)."
        ),
    ] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Re-compute the whole audit chain and check every checkpoint, in the store and in the
    folder, and say where it breaks: one line per finding, naming the seq.

    Exit 0 intact, 1 broken, 2 usage error (no store, a key that cannot be read, bad options).
    """
    settings = settings_of(config)
    if checkpoints is not None and not checkpoints.is_dir():
        raise fail(f"--checkpoints {checkpoints}: there is no such folder")
    folder = checkpoints or checkpoint_folder(settings)
    try:
        keys = trusted_keys(settings, key or [])
    except ConfigError as error:
        raise fail(str(error)) from None
    with existing_store(settings, read_only=True) as store:
        try:
            report = verify(store, keys, folder)
        except UNREADABLE as error:  # not our rows
            raise fail(unreadable(error), 1) from None
    if as_json:
        sys.stdout.write(json.dumps({**report.as_json(), "folder": str(folder)}) + "\n")
    else:
        _show(report, folder)
    raise typer.Exit(0 if report.ok else 1)


def _show(report: Report, folder: Path) -> None:
    for finding in report.findings:
        out.print(
            line(("broken", "bold red"), f": {finding.message}"), highlight=False, soft_wrap=True
        )
    if report.more:
        out.print(
            line(("broken", "bold red"), f": {count(report.more, 'more finding')}"),
            highlight=False,
            soft_wrap=True,
        )
    word = ("intact", "bold green") if report.ok else ("broken", "bold red")
    out.print(line(word, f": {verdict(report, folder)}"), highlight=False, soft_wrap=True)


@audit_app.command("checkpoint")
def audit_checkpoint(config: ConfigOption = None) -> None:
    """Sign the chain's head now: a checkpoint in the store and its file in the folder."""
    settings = settings_of(config)
    configure_logging(level="warning", stream=sys.stderr)
    with existing_store(settings) as store:
        try:
            signer = checkpointer(settings, store, signing_key(settings), utc_now)
        except ConfigError as error:
            raise fail(str(error)) from None
        row = _or_fail(signer.now)
    if row is None:
        out.print("nothing to sign: the chain has no events", highlight=False, soft_wrap=True)
        return
    out.print(
        f"checkpoint #{row.id}: seq {row.seq} signed by key {row.key_id} at "
        f"{row.at:%Y-%m-%d %H:%M:%S} UTC, its file in {signer.folder}",
        highlight=False,
        soft_wrap=True,
    )


@log_app.command("prune")
def log_prune(
    actor: Annotated[
        str | None, typer.Option(help="Who prunes (default: the user running this).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why.")] = "retention period passed",
    dry_run: Annotated[bool, typer.Option(help="Say what would go, delete nothing.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete what is past its retention ([audit] keep_years, keep_after_expiry_years): a
    prefix of the audit chain up to a checkpoint, and the rows of the packs whose events all
    lie in it. The log must verify first; the prune is recorded in the log. Exit 0 (pruned,
    or nothing due), 1 the log does not verify, 2 usage error."""
    if not reason.strip():
        raise fail("--reason: give why the log is pruned")
    reason = person_text("--reason", reason)
    settings = settings_of(config)
    configure_logging(level="warning", stream=sys.stderr)
    who = person_text("--actor", actor) if actor is not None else getpass.getuser()
    with existing_store(settings) as store:
        try:
            key = signing_key(settings)
            signer = checkpointer(settings, store, key, utc_now)
        except ConfigError as error:
            raise fail(str(error)) from None
        try:
            outcome = prune_log(
                store, retention(settings), [key.public], signer.folder,
                actor=who, why=reason, now=utc_now(), dry_run=dry_run,
            )  # fmt: skip
        except PruneRefused as error:
            raise fail(str(error), code=1) from None
        except StoreError as error:
            raise fail(str(error), code=1) from None
        signed = _or_fail(signer.now) if outcome.pruned and not dry_run else None
    out.print(_said(outcome, who), highlight=False, soft_wrap=True)
    if signed is not None:
        out.print(f"checkpoint #{signed.id} signs the new head (seq {signed.seq})",
                  highlight=False, soft_wrap=True)  # fmt: skip


def _said(outcome: PruneOutcome, who: str) -> str:
    pruned, kept = outcome.pruned, outcome.kept
    if pruned is None:
        if kept is None:
            return "nothing to prune: no checkpoint to cut at (`fmd-robot audit checkpoint`)"
        until = f"until {kept.until:%Y-%m-%d}" if kept.until else "while its pack has work open"
        return f"nothing to prune: seq {kept.seq}, the oldest event, is kept {until}"
    through = pruned.through
    what = (f"the chain through seq {through.seq} ({pruned.events} events) and the rows of "
            f"{pruned.packs} packs, cut at checkpoint #{through.id}")  # fmt: skip
    if outcome.dry_run:
        return f"would prune {what}"
    return f"pruned {what}; recorded as pruned by {who}"


def _or_fail(step: Callable[[], T]) -> T:
    try:
        return step()
    except StoreError as error:
        raise fail(str(error), code=1) from None

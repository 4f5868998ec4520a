"""The provable log as a configuration sets it up: the signing key (made beside the store when
none is configured, so checkpoints are always on), the keys a verifier trusts, the folder of
checkpoint files, the checkpointer and the retention rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from robot_controller.config import Config, ConfigError
from robot_controller.proof.checkpointer import Checkpointer
from robot_controller.proof.keys import (
    KeyExists,
    PublicKey,
    SigningKey,
    generate,
    load_public_key,
    load_signing_key,
    public_file,
)
from robot_controller.proof.retention import Retention
from robot_controller.store import Store

KEY = "audit.key"


def key_name(config: Config) -> str:
    """The key as a one-line message names it."""
    return KEY if config.audit.key else f"{KEY} (not set: the key made beside the store)"


def signing_key(config: Config) -> SigningKey:
    """The configured key; when none is configured, the key beside the store, made the first
    time. `ConfigError` (one line naming the key and the file) when it cannot be used."""
    path = config.audit.key_file(config.store.url)
    if config.audit.key is None and not path.exists():
        try:
            return generate(path)
        except KeyExists:  # another process made it just now
            pass
        except OSError as error:
            raise ConfigError(
                f"{key_name(config)}: cannot make {path}: {error.strerror or error}"
            ) from None
    return load_signing_key(path, key_name(config))


def trusted_keys(config: Config, given: Sequence[Path]) -> list[PublicKey]:
    """The keys checkpoints are checked against: those `given` (public or private key files),
    else the configured key's (its private file, or else its `.pub`)."""
    if given:
        return [load_public_key(path, "--key") for path in given]
    path = config.audit.key_file(config.store.url)
    if not path.exists() and public_file(path).exists():
        path = public_file(path)
    if not path.exists():
        raise ConfigError(
            f"{key_name(config)}: {path} does not exist (the daemon makes it at its first "
            "start): give --key with the public key the checkpoints are signed with"
        )
    return [load_public_key(path, key_name(config))]


def checkpoint_folder(config: Config) -> Path:
    return config.audit.checkpoint_folder(config.store.url)


def checkpointer(
    config: Config, store: Store, key: SigningKey, clock: Callable[[], datetime]
) -> Checkpointer:
    """The checkpointer of `[audit]` over `store`; `ConfigError` naming the folder when it
    cannot be made."""
    folder = checkpoint_folder(config)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"audit.checkpoints: cannot make {folder}: {error.strerror or error}"
        ) from None
    return Checkpointer(
        store,
        key,
        folder,
        every_events=config.audit.every_events,
        every=timedelta(minutes=config.audit.every_minutes),
        clock=clock,
        robot=config.robot.name if config.robot is not None else None,
    )


def retention(config: Config) -> Retention:
    return Retention(config.audit.keep_years, config.audit.keep_after_expiry_years)

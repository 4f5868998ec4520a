"""The Ed25519 key that signs checkpoints: made, read, and named by its key id.

A private key is a PKCS#8 PEM file of mode 0600, its public key a PEM file beside it
(`FILE.pub`); the key id is the first 16 hex digits of the SHA-256 of the raw public key. A
key file is never overwritten, and appears whole or not at all (written aside, then linked).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from robot_controller.config import ConfigError

PUBLIC_SUFFIX = ".pub"


class KeyExists(Exception):
    """A key file is already there (it is never overwritten)."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A key checkpoints are checked against."""

    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    def verifies(self, signature: str, text: str) -> bool:
        """Whether `signature` (base64) is this key's over `text`."""
        try:
            self.key.verify(base64.b64decode(signature, validate=True), text.encode())
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The private key that signs checkpoints, and the file it came from."""

    private: Ed25519PrivateKey
    path: Path

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.private.public_key())

    def sign(self, text: str) -> str:
        """The base64 signature over `text`."""
        return base64.b64encode(self.private.sign(text.encode())).decode()


def public_file(path: Path) -> Path:
    return path.with_name(path.name + PUBLIC_SUFFIX)


def generate(path: Path) -> SigningKey:
    """A new key in `path` (mode 0600) and its public key in `path.pub`; `KeyExists` when
    either is there already."""
    for taken in (path, public_file(path)):
        if taken.exists():
            raise KeyExists(f"{taken} exists: a key is never overwritten")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(path, pem, 0o600)
    _write_new(public_file(path), public, 0o644)
    return SigningKey(private, path)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file that appears whole or not at all; `KeyExists` when it is already there."""
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.link(aside, path)
    except FileExistsError:
        raise KeyExists(f"{path} exists: a key is never overwritten") from None
    finally:
        os.unlink(aside)


def load_signing_key(path: Path, name: str) -> SigningKey:
    """The private key in `path`; `ConfigError` naming the key (`name`) and the file when it
    cannot be read or is not an Ed25519 private key."""
    data = _read(path, name)
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{name}: {path} is not a PEM private key ({_first(error)})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError(f"{name}: {path} is not an Ed25519 private key")
    return SigningKey(private, path)


def load_public_key(path: Path, name: str) -> PublicKey:
    """The public key in `path` (a public key PEM, or the private key's); `ConfigError`
    naming `name` and the file when it is neither."""
    data = _read(path, name)
    if b"PRIVATE KEY" in data:
        return load_signing_key(path, name).public
    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{name}: {path} is not a PEM public key ({_first(error)})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise ConfigError(f"{name}: {path} is not an Ed25519 public key")
    return PublicKey(public)


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{name}: cannot read {path}: {error.strerror or error}") from None


def _first(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

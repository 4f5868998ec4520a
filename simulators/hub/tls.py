"""The hub simulator's PKI: a CA, a server certificate and a client certificate, made afresh
(`make_pki`) or kept in a folder across restarts (`load_pki`)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class Pki:
    """PEM files: the CA both sides trust, the server's pair and one client's pair."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def pki_in(folder: Path) -> Pki:
    """Where a PKI's files are in `folder`."""
    return Pki(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )


def load_pki(folder: Path, *, hosts: tuple[str, ...], valid_for: timedelta) -> Pki | None:
    """The PKI kept in `folder` when it is complete, its server certificate names exactly
    `hosts` and every certificate stays valid for `valid_for` more; else None."""
    pki = pki_in(folder)
    try:
        certificates = [
            x509.load_pem_x509_certificate(path.read_bytes())
            for path in (pki.ca, pki.server_cert, pki.client_cert)
        ]
        if not (pki.server_key.is_file() and pki.client_key.is_file()):
            return None
        named = certificates[1].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    if set(named.value) != set(_names(hosts)):
        return None
    until = datetime.now(UTC) + valid_for
    return pki if all(c.not_valid_after_utc > until for c in certificates) else None


def make_pki(
    folder: Path,
    *,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    server_expired: bool = False,
    days: int = 2,
) -> Pki:
    """Generate a CA and certificates valid for `hosts` and `days`, written as PEM files in
    `folder` (the private keys readable by their owner only).

    `server_expired` makes a server certificate that ran out yesterday (for clients' tests).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fmd-robot simulator CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        _builder(
            _cn("nmvs simulator"), ca_name, server_key.public_key(), days, expired=server_expired
        )
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = (
        _builder(_cn("fmd-robot pharmacy"), ca_name, client_key.public_key(), days)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = pki_in(folder)
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.server_key, _private_pem(server_key))
    pki.client_cert.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.client_key, _private_pem(client_key))
    return pki


def _names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)  # a new file, created with the owner's permissions only
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def _cn(name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePublicKey,
    days: int,
    *,
    expired: bool = False,
) -> x509.CertificateBuilder:
    now = datetime.now(UTC) - (timedelta(days=days + 1) if expired else timedelta(0))
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

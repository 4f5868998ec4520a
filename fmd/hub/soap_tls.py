"""The SOAP client's TLS context: trusted CAs and the client certificate (PEM or PKCS#12).

Every file is checked as it is loaded, so a wrong one is one line naming the setting (`ca`,
`cert`, `key`, `pkcs12`) and the file: missing, unreadable, not PEM, an encrypted key, a key
that is not the certificate's, a PKCS#12 file its password does not open.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def client_context(
    *,
    ca: str | bool = True,
    cert: str | None = None,
    key: str | None = None,
    pkcs12_file: str | None = None,
    pkcs12_password: str | None = None,
) -> ssl.SSLContext:
    """A TLS client context.

    `ca`: True = the system's trusted CAs, a path = that CA bundle, False = no verification.
    The client certificate comes from `cert` + `key` (PEM files; `key` None: in `cert`) or from
    `pkcs12_file`. Raises ValueError, one line starting with the setting at fault and naming
    its file, that never contains a password.
    """
    if pkcs12_file is not None and cert is not None:
        raise ValueError("pkcs12: give either cert/key or pkcs12, not both")
    context = trusting(ca)
    if cert is not None:
        _load_pem_pair(context, Path(cert), Path(key) if key is not None else None)
    elif pkcs12_file is not None:
        _load_pkcs12(context, Path(pkcs12_file), pkcs12_password)
    return context


def trusting(ca: str | bool = True) -> ssl.SSLContext:
    """A TLS client context that trusts `ca` (as for `client_context`); ValueError naming the
    file when it cannot be read or holds no certificate."""
    if not isinstance(ca, str):
        context = ssl.create_default_context()
        if ca is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=ca)
    except ssl.SSLError:  # an OSError too: first
        raise ValueError(f"ca: {ca} holds no PEM certificate") from None
    except OSError as error:
        raise ValueError(f"ca: cannot read {ca}: {_reason(error)}") from None


def _load_pem_pair(context: ssl.SSLContext, cert: Path, key: Path | None) -> None:
    """Load a PEM certificate and its key, each checked first so the fault names its file."""
    key_file = key or cert
    certificates, private_pem = _read("cert", cert), _read("key", key_file)
    try:
        chain = x509.load_pem_x509_certificates(certificates)
    except ValueError:
        raise ValueError(f"cert: {cert} holds no PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(private_pem, password=None)
    except TypeError:  # encrypted: OpenSSL would ask for its password on the terminal
        raise ValueError(
            f"key: {key_file} is encrypted: give the key unencrypted (a file only the daemon "
            "can read), or the pair as a PKCS#12 file with pkcs12_password"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(f"key: {key_file} holds no PEM private key") from None
    if private.public_key().public_bytes(*_SPKI) != chain[0].public_key().public_bytes(*_SPKI):
        raise ValueError(f"key: {key_file} is not the key of the certificate in {cert}")
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as error:
        raise ValueError(f"cert: {cert} with key {key_file}: {_reason(error)}") from None


def _load_pkcs12(context: ssl.SSLContext, path: Path, password: str | None) -> None:
    """Load a PKCS#12 key and chain; the key touches the disk only encrypted, in a private file."""
    data = _read("pkcs12", path)
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(
            data, password.encode() if password is not None else None
        )
    except ValueError:
        raise ValueError(
            f"pkcs12: cannot open {path}: wrong password (pkcs12_password), or not a PKCS#12 file"
        ) from None
    if key is None or certificate is None:
        raise ValueError(f"pkcs12: {path} holds no private key and certificate")
    transient = secrets.token_urlsafe(32)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (certificate, *chain))
    pem += key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(transient.encode()),
    )
    handle, name = tempfile.mkstemp(prefix="fmd-soap-", suffix=".pem")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(pem)
        context.load_cert_chain(name, password=transient)
    finally:
        os.unlink(name)


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValueError(f"{setting}: cannot read {path}: {_reason(error)}") from None


def _reason(error: OSError) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error)
    return error.strerror or str(error)

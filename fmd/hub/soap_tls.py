"""The SOAP client's TLS context: trusted CAs and the client certificate (PEM or PKCS#12)."""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12


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
    The client certificate comes from `cert` + `key` (PEM files) or from `pkcs12_file`.
    Raises ValueError with a message that never contains a password.
    """
    if pkcs12_file is not None and cert is not None:
        raise ValueError("give either cert/key or pkcs12, not both")
    if isinstance(ca, str):
        context = ssl.create_default_context(cafile=ca)
    else:
        context = ssl.create_default_context()
        if ca is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(cert, key)
    elif pkcs12_file is not None:
        _load_pkcs12(context, Path(pkcs12_file), pkcs12_password)
    return context


def _load_pkcs12(context: ssl.SSLContext, path: Path, password: str | None) -> None:
    """Load a PKCS#12 key and chain; the key touches the disk only encrypted, in a private file."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(
            path.read_bytes(), password.encode() if password is not None else None
        )
    except ValueError:
        raise ValueError(
            f"cannot open PKCS#12 file {path} (wrong password or not PKCS#12)"
        ) from None
    if key is None or certificate is None:
        raise ValueError(f"PKCS#12 file {path} holds no private key and certificate")
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

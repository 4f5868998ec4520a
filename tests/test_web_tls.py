"""TLS when `[web]` names a certificate: served over https by the real server, the session
cookie Secure and HSTS sent; a key or port that cannot be used is one line."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from robot_controller.config import ConfigError, WebConfig
from robot_controller.store import Store
from robot_controller.users import Role
from robot_controller.web.app import create_app
from robot_controller.web.server import WebServer
from tests.support.web import web_config, web_world


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fmd-robot test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "web.crt", folder / "web.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def tls_web(certificate: Path, key: Path, port: int = 0) -> WebConfig:
    return WebConfig(host="127.0.0.1", port=port, certificate=certificate, private_key=key)


async def test_over_tls_the_cookie_is_secure_and_hsts_is_sent(
    tmp_path: Path, sqlite_url: str
) -> None:
    cert, key = self_signed(tmp_path)
    config = web_config(sqlite_url).model_copy(update={"web": tls_web(cert, key)})
    world = web_world(Store.open(sqlite_url), config=config)
    server = WebServer(create_app(world.services), config.web)
    await server.start()
    try:
        assert server.url == f"https://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(
            base_url=server.url, verify=ssl.create_default_context(cafile=cert)
        ) as client:
            alive = await client.get("/healthz")
            signed_in = await client.post("/login", data={"token": world.tokens[Role.OPERATOR]})
    finally:
        await server.aclose()
    assert alive.status_code == 200
    assert alive.headers["strict-transport-security"] == "max-age=31536000"
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


async def test_plain_http_to_the_tls_port_gets_no_page(tmp_path: Path, sqlite_url: str) -> None:
    cert, key = self_signed(tmp_path)
    config = web_config(sqlite_url).model_copy(update={"web": tls_web(cert, key)})
    world = web_world(Store.open(sqlite_url), config=config)
    server = WebServer(create_app(world.services), config.web)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            with pytest.raises(httpx.HTTPError):
                await client.get("/healthz")
    finally:
        await server.aclose()


@pytest.mark.parametrize(
    ("problem", "says"),
    [
        ("missing", "web.private_key: cannot read {key}: No such file or directory"),
        ("garbage", "web.private_key: {key} holds no PEM private key"),
        ("wrong-key", "web.private_key: {key} is not the key of the certificate {cert}"),
        ("encrypted", "web.private_key: {key} is encrypted; give the key without a passphrase"),
        ("no-cert", "web.certificate: {cert} holds no PEM certificate"),
    ],
)
async def test_a_key_or_certificate_that_cannot_be_used_is_one_line_naming_it(
    tmp_path: Path, sqlite_url: str, problem: str, says: str
) -> None:
    cert, key = self_signed(tmp_path)
    if problem == "missing":
        key = tmp_path / "nowhere.key"
    elif problem == "garbage":
        key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    elif problem == "wrong-key":
        other = tmp_path / "other"
        other.mkdir()
        _, key = self_signed(other)  # a key, but not the certificate's
    elif problem == "encrypted":
        loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        key.write_bytes(
            loaded.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
    elif problem == "no-cert":
        cert.write_text("hello\n")
    config = web_config(sqlite_url).model_copy(update={"web": tls_web(cert, key)})
    server = WebServer(create_app(web_world(Store.open(sqlite_url)).services), config.web)
    with pytest.raises(ConfigError) as refused:
        await server.start()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(says.format(key=key, cert=cert))


async def test_a_port_in_use_is_one_line(tmp_path: Path, sqlite_url: str) -> None:
    cert, key = self_signed(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        web = tls_web(cert, key, port)
        config = web_config(sqlite_url).model_copy(update={"web": web})
        server = WebServer(
            create_app(web_world(Store.open(sqlite_url), config=config).services), web
        )
        with pytest.raises(ConfigError) as refused:
            await server.start()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"web: cannot listen on 127.0.0.1:{port} (")

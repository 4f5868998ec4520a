"""`fmd-robot audit keygen | verify | checkpoint` and `log prune` through the command line:
exit 0 intact, 1 broken, 2 usage error, each with one line; a demo store verifies."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from robot_controller.cli import app
from robot_controller.config import ConfigError, load_config
from robot_controller.proof.configured import checkpointer, signing_key
from robot_controller.store import Store
from tests.support.audit import Attacker, Clock, Signed

runner = CliRunner()


def site(folder: Path, **audit: str) -> Path:
    config = folder / "site.toml"
    lines = [f'[store]\nurl = "sqlite:///{folder / "fmd.db"}"\n[audit]']
    lines += [f'{key} = "{value}"' for key, value in audit.items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store loaded by `fmd-robot demo` (50 packs), with the key and checkpoints it made."""
    folder = tmp_path_factory.mktemp("demo")
    result = runner.invoke(
        app, ["demo", "--packs", "50", "--db", str(folder / "fmd.db"), "--json",
              "--hub", "mock", "--robot", "sim"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


def test_a_demo_store_verifies_and_its_last_checkpoint_signs_its_head(demo_folder: Path) -> None:
    config = site(demo_folder)
    result = runner.invoke(app, ["audit", "verify", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["events"] > 250
    assert report["unsigned"] == 0  # the clean stop signed the head
    assert report["checkpoints"] == report["files"] >= 1
    shown = runner.invoke(app, ["audit", "verify", "--config", str(config)])
    assert shown.exit_code == 0
    assert shown.stdout.startswith(f"intact: {report['events']} events (seq 1–")


def test_an_inspector_with_only_the_public_key_can_verify(demo_folder: Path) -> None:
    config = site(demo_folder, key=str(demo_folder / "nowhere.key"))
    public = demo_folder / "fmd.db.audit-key.pub"
    result = runner.invoke(
        app, ["audit", "verify", "--config", str(config), "--key", str(public),
              "--checkpoints", str(demo_folder / "fmd.db.checkpoints")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def signed_site(folder: Path, packs: int) -> Path:
    """A site's config and its store with `packs` scans, signed as the daemon would."""
    config = site(folder)
    settings = load_config(config)
    store = Store.open(settings.store.url)
    try:
        key, clock = signing_key(settings), Clock()
        signer = checkpointer(settings, store, key, clock)
        Signed(store, key, signer.folder, clock, signer).record(packs)
        signer.now()
    finally:
        store.close()
    return config


def test_a_tampered_store_exits_1_with_one_line_per_finding(tmp_path: Path) -> None:
    config = signed_site(tmp_path, 6)
    store = Store.open(f"sqlite:///{tmp_path / 'fmd.db'}")
    try:
        Attacker(store).run("UPDATE audit_events SET actor = 'someone' WHERE id = 3")
    finally:
        store.close()
    folder = tmp_path / "fmd.db.checkpoints"
    result = runner.invoke(app, ["audit", "verify", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "broken: seq 3: edited (its hash does not match its fields)",
        f"broken: 1 finding in 6 events (seq 1–6), 1 checkpoint, 1 file in {folder}",
    ]
    pruned = runner.invoke(app, ["log", "prune", "--config", str(config)])
    assert pruned.exit_code == 1
    assert "does not verify" in pruned.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--key", "missing.pub"], "--key: cannot read missing.pub: No such file or directory"),
        (["--key", "site.toml"], "--key: site.toml is not a PEM public key"),
        (["--checkpoints", "nowhere"], "--checkpoints nowhere: there is no such folder"),
    ],
)
def test_bad_options_are_a_usage_error_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    config = site(tmp_path)
    result = runner.invoke(app, ["audit", "verify", "--config", str(config), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {says}")
    assert len(result.stderr.splitlines()) == 1


def test_verify_of_a_store_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    config = site(tmp_path)
    signing_key(load_config(config))  # the key is there, the store is not
    result = runner.invoke(app, ["audit", "verify", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: store: ")
    assert len(result.stderr.splitlines()) == 1
    (tmp_path / "keyless").mkdir()
    keyless = runner.invoke(app, ["audit", "verify", "--config", str(site(tmp_path / "keyless"))])
    assert keyless.exit_code == 2
    assert keyless.stderr.startswith("error: audit.key (not set: the key made beside the store): ")


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path,
) -> None:
    out = tmp_path / "audit.key"
    made = runner.invoke(app, ["audit", "keygen", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert b"PUBLIC KEY" in (tmp_path / "audit.key.pub").read_bytes()
    before = out.read_bytes()
    again = runner.invoke(app, ["audit", "keygen", "--out", str(out)])
    assert again.exit_code == 2
    assert again.stderr.startswith(f"error: {out} exists: a key is never overwritten")
    assert out.read_bytes() == before


def test_a_key_that_is_not_an_ed25519_private_key_is_one_config_error(tmp_path: Path) -> None:
    rsa_key = tmp_path / "rsa.key"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    for key, says in ((rsa_key, "is not an Ed25519 private key"),
                      (garbage, "is not a PEM private key")):  # fmt: skip
        settings = load_config(site(tmp_path, key=str(key)))
        with pytest.raises(ConfigError, match=f"^audit.key: {key} {says}"):
            signing_key(settings)
    Store.open(f"sqlite:///{tmp_path / 'fmd.db'}").close()
    config = site(tmp_path, key=str(garbage))
    result = runner.invoke(app, ["audit", "checkpoint", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: audit.key: {garbage} is not a PEM private key")


def test_without_a_configured_key_one_is_made_beside_the_store_and_kept(tmp_path: Path) -> None:
    settings = load_config(site(tmp_path))
    first = signing_key(settings)
    assert first.path == tmp_path / "fmd.db.audit-key"
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert signing_key(settings).public.key_id == first.public.key_id


def test_checkpoint_and_prune_from_the_command_line(tmp_path: Path) -> None:
    config = site(tmp_path)
    missing = runner.invoke(app, ["audit", "checkpoint", "--config", str(config)])
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    signed_site(tmp_path, 3)
    made = runner.invoke(app, ["audit", "checkpoint", "--config", str(config)])
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("checkpoint #2: seq 3 signed by key ")
    due = runner.invoke(app, ["log", "prune", "--config", str(config), "--actor", "c.officer"])
    assert due.exit_code == 0, due.output
    assert due.stdout == "nothing to prune: seq 1, the oldest event, is kept until 2031-01-05\n"
    blank = runner.invoke(app, ["log", "prune", "--config", str(config), "--reason", " "])
    assert blank.exit_code == 2


def test_rows_another_program_wrote_are_findings_or_one_line(tmp_path: Path) -> None:
    config = signed_site(tmp_path, 4)
    store = Store.open(f"sqlite:///{tmp_path / 'fmd.db'}")
    try:
        Attacker(store).run("UPDATE audit_events SET at = 'yesterday', why = 7 WHERE id = 2")
        edited = runner.invoke(app, ["audit", "verify", "--config", str(config)])
        assert edited.exit_code == 1
        assert edited.stdout.startswith("broken: seq 2: edited")
        Attacker(store).run("UPDATE audit_checkpoints SET at = 'soon'")
    finally:
        store.close()
    unreadable = runner.invoke(app, ["audit", "verify", "--config", str(config)])
    assert unreadable.exit_code == 1
    assert unreadable.stderr.startswith("error: store: its audit tables cannot be read as written")
    assert len(unreadable.stderr.splitlines()) == 1

"""The daemon signs the chain's head at its clean stop with the key made beside its store (SQLite
and PostgreSQL), and a key it cannot use stops it before any device is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_controller.config import Config, ConfigError
from robot_controller.proof.configured import trusted_keys
from robot_controller.proof.verify import verify
from robot_controller.wiring import build_daemon
from simulators.delivery import generate_delivery, master_data
from simulators.world import write_master_data


def site(folder: Path, store_url: str, **audit: str) -> Config:
    delivery = generate_delivery(4, seed=5, suspect_rate=0.0)
    scans = folder / "scans.txt"
    scans.write_bytes(b"".join(raw.encode() + b"\n" for raw in delivery.raws))
    data = write_master_data(master_data(delivery), folder / "md.json")
    return Config(
        site={"location": "ward-7"},
        store={"url": store_url},
        hub={"kind": "mock", "master_data": str(data)},
        robot={"kind": "sim"},
        scanners=[{"kind": "script", "path": str(scans)}],
        pipeline={"replay_every_s": None},
        audit=audit,
    )


async def test_a_clean_stop_signs_the_head_with_the_key_made_beside_the_store(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # PostgreSQL: the key and the folder go here
    config = site(tmp_path, store_url)
    daemon = await build_daemon(config)
    try:
        await daemon.run()
    finally:
        await daemon.aclose()
    reopened = await build_daemon(config)  # the second start reuses the key
    try:
        report = verify(reopened.store, trusted_keys(config, []), reopened.checkpoints.folder)
        head = reopened.store.audit_head()
    finally:
        await reopened.aclose()
    assert report.ok, report.findings
    assert (report.checkpoints, report.files, report.unsigned) == (1, 1, 0)
    assert report.last_seq == head[0] > 4


async def test_a_key_the_daemon_cannot_use_stops_it_before_any_device(tmp_path: Path) -> None:
    garbage = tmp_path / "audit.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    config = site(tmp_path, f"sqlite:///{tmp_path / 'fmd.db'}", key=str(garbage))
    with pytest.raises(ConfigError, match=f"^audit.key: {garbage} is not a PEM private key") as e:
        await build_daemon(config)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "fmd.db").exists()

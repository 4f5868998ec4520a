"""The command line beside a running daemon, and a daemon whose store can no longer be written."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner, Result

from robot_controller.cli import app
from robot_controller.store import Store
from simulators.delivery import generate_delivery, master_data
from simulators.world import write_master_data

runner = CliRunner()
ROOT = Path(__file__).parents[1]


def site_config(folder: Path, packs: int = 2) -> tuple[Path, list[str]]:
    """A site whose daemon reads scans from standard input; its config and the scans."""
    delivery = generate_delivery(packs, seed=3, suspect_rate=0.2, today=datetime.now(UTC).date())
    data = write_master_data(master_data(delivery), folder / "master-data.json")
    config = folder / "site.toml"
    config.write_text(
        f'[site]\nlocation = "ward-7"\n[store]\nurl = "sqlite:///{folder / "fmd.db"}"\n'
        f'[hub]\nkind = "mock"\nmaster_data = "{data}"\n[robot]\nkind = "sim"\n'
        '[[scanners]]\nkind = "keyboard"\n[log]\nlevel = "warning"\n',
        encoding="utf-8",
    )
    return config, delivery.raws


def daemon(config: Path, preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    """`fmd-robot run` on `config` (`preexec_fn` runs in the child before it starts)."""
    return subprocess.Popen(
        [sys.executable, "-m", "robot_controller", "run", "--config", str(config)],
        cwd=ROOT, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=preexec_fn,
    )  # fmt: skip


def wait_for_lock(lock: Path, pid: int, timeout_s: float = 30) -> None:
    """Until the daemon `pid` holds its store (it names itself in the lock file)."""
    deadline = time.monotonic() + timeout_s
    while not (lock.exists() and f"pid={pid}\n" in lock.read_text()):
        assert time.monotonic() < deadline, "the daemon never took its store"
        time.sleep(0.05)  # polling another process: nothing to await


def outbox_status(config: Path, timeout_s: float = 30) -> Result:
    """`outbox status` once the daemon has made its store (it opens it after its devices, so
    for a moment after it holds the lock there is no schema yet: the command says so)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = runner.invoke(app, ["outbox", "status", "--config", str(config)])
        if status.exit_code == 0 or "no schema" not in status.stderr:
            return status
        assert time.monotonic() < deadline, "the daemon never made its store"
        time.sleep(0.05)  # polling another process: nothing to await


def test_commands_that_write_the_store_refuse_beside_a_running_daemon(tmp_path: Path) -> None:
    config, _ = site_config(tmp_path)
    first = daemon(config)
    try:
        wait_for_lock(tmp_path / "fmd.db.lock", first.pid)

        second = runner.invoke(app, ["run", "--config", str(config)])
        assert second.exit_code == 2
        assert f"is in use by pid {first.pid} (fmd-robot run --config " in second.stderr
        assert f"kill -TERM {first.pid}" in second.stderr

        replay = runner.invoke(app, ["outbox", "replay", "--config", str(config)])
        assert replay.exit_code == 1
        assert "the running daemon replays the outbox itself" in replay.stderr
        assert f"kill -TERM {first.pid}" in replay.stderr
        for refused in (second, replay):
            assert len(refused.stderr.strip().splitlines()) == 1

        status = outbox_status(config)
        assert status.exit_code == 0, status.stderr
    finally:
        _, err = first.communicate(input="", timeout=60)  # its scanner ends: it stops
    assert first.returncode == 0, err


def test_a_daemon_whose_disk_fills_stops_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    config, raws = site_config(tmp_path, packs=120)
    Store.open(f"sqlite:///{tmp_path / 'fmd.db'}").close()
    room = 160_000  # bytes any file of this process may reach: the store's files fill up

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    loading = daemon(config, preexec_fn=small_disk)
    _, err = loading.communicate(input="\n".join(raws) + "\n", timeout=120)

    assert loading.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: store: {tmp_path / 'fmd.db'} cannot be written: ")
    assert not [line for line in err.splitlines() if line.startswith("Traceback")]
    store = Store.open(f"sqlite:///{tmp_path / 'fmd.db'}")
    try:
        assert store.check_audit_chain().ok
        assert 0 < store.summary()["packs"] < len(raws)
    finally:
        store.close()

"""Master data in a file: written by `fmd-robot sim delivery`, read by `[hub] kind = "mock"` and
`fmd-robot sim hub --master-data`; a malformed file is one error line naming the entry."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fmd.codes.encode import encode_gs1
from fmd.codes.escapes import show_controls
from fmd.hub import MockHub, PackState, Reason
from fmd.hub.master_data import MasterData, MasterDataError, load_master_data
from robot_controller.cli import app
from simulators.delivery import Kind, generate_delivery, master_data

runner = CliRunner()
PACK_UI = "]d201041500375286431726123110ABC123<GS>21SN12345"
DOCUMENT_KEYS = {
    "products", "batches", "packs", "recalled_batches", "withdrawn_products", "decommissioned",
}  # fmt: skip


def written_delivery(
    tmp_path: Path, packs: int = 40, seed: int = 3, suspect_rate: float = 0.1
) -> tuple[Path, Path]:
    data, scans = tmp_path / "master-data.json", tmp_path / "scans.txt"
    result = runner.invoke(
        app,
        ["sim", "delivery", "--out", str(data), "--scans", str(scans), "--packs", str(packs),
         "--seed", str(seed), "--suspect-rate", str(suspect_rate)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return data, scans


def mock_config(tmp_path: Path, data: Path) -> Path:
    config = tmp_path / "mock.toml"
    config.write_text(
        f'[site]\nlocation = "hospital-pharmacy-1"\n[hub]\nkind = "mock"\nmaster_data = "{data}"\n'
    )
    return config


def test_sim_delivery_writes_the_documented_format_and_raw_scans(tmp_path: Path) -> None:
    data, scans = written_delivery(tmp_path)
    document = json.loads(data.read_text())
    assert set(document) == DOCUMENT_KEYS
    assert set(document["products"][0]) == {"product_code", "scheme", "name"}
    assert set(document["batches"][0]) == {"product_code", "batch", "expiry"}
    date.fromisoformat(document["batches"][0]["expiry"])
    assert set(document["packs"][0]) == {"product_code", "serial", "batch"}
    assert all(set(d) == {"product_code", "serial", "reason", "location"}
               for d in document["decommissioned"])  # fmt: skip
    lines = scans.read_bytes().split(b"\n")
    assert lines[-1] == b""  # one scan a line, each ended
    assert len(lines) == 41
    assert any(b"\x1d" in line for line in lines)  # GS kept as the byte 0x1D
    delivery = generate_delivery(40, seed=3)
    assert [line.decode() for line in lines[:-1]] == delivery.raws


def test_the_same_seed_writes_the_same_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = written_delivery(tmp_path / "a")
    second = written_delivery(tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_a_file_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "master-data.json"
    result = runner.invoke(
        app, ["sim", "delivery", "--out", str(missing), "--scans", str(tmp_path / "s.txt")]
    )
    assert result.exit_code == 2
    assert f"cannot write {missing}: No such file or directory" in result.stderr


def test_master_data_reads_back_what_it_wrote_and_loads_into_a_hub() -> None:
    delivery = generate_delivery(60, seed=8, suspect_rate=0.4)
    data = master_data(delivery)
    assert MasterData.from_json(json.loads(json.dumps(data.as_json()))) == data
    hub = MockHub()
    load_master_data(hub, data)
    supplied = next(p.ui for p in delivery.packs if p.kind is Kind.ALREADY_SUPPLIED)
    assert hub.pack_state(supplied.product_code, supplied.serial) == (
        PackState.INACTIVE,
        (Reason.SUPPLIED,),
    )
    genuine = next(p.ui for p in delivery.packs if p.kind is Kind.GENUINE)
    assert hub.pack_state(genuine.product_code, genuine.serial) == (PackState.ACTIVE, ())


def test_verify_answers_from_the_configured_master_data(tmp_path: Path) -> None:
    data, _ = written_delivery(tmp_path, packs=60, seed=8, suspect_rate=0.5)
    config = mock_config(tmp_path, data)
    delivery = generate_delivery(60, seed=8, suspect_rate=0.5)
    expected = {Kind.GENUINE: "ACTIVE", Kind.ALREADY_SUPPLIED: "INACTIVE"}
    for kind, state in expected.items():
        pack = next(p for p in delivery.packs if p.kind is kind)
        raw = show_controls(encode_gs1(pack.ui))
        result = runner.invoke(app, ["verify", "--config", str(config), "--json", raw])
        assert json.loads(result.stdout)["state"] == state, result.output
        assert result.exit_code == (0 if state == "ACTIVE" else 1)


def test_verify_on_the_simulated_default_config_says_where_the_hub_is() -> None:
    result = runner.invoke(app, ["verify", "]d201095060001343521CFG1"])
    assert result.exit_code == 2
    assert "simulated" in result.stderr
    assert "master_data" in result.stderr


BAD_DOCUMENTS: list[tuple[Any, str]] = [
    ([], "must be a JSON object"),
    ({"packs": {}}, "packs: must be a list"),
    ({"products": [{"product_code": "123"}]}, r"products\[0\]: .*not a valid GTIN"),
    ({"products": [{"product_code": "09506000134352", "scheme": "EAN"}]}, r"products\[0\]\.scheme"),
    ({"batches": [{"product_code": "09506000134352", "batch": "B1", "expiry": "2028-13-01"}]},
     r"batches\[0\]\.expiry: '2028-13-01' is not YYYY-MM-DD"),
    ({"packs": [{"product_code": "09506000134352", "serial": "S1"}]},
     r"packs\[0\]: missing 'batch'"),
    ({"packs": [{"product_code": "09506000134352", "serial": "S1", "batch": "B1"}]},
     r"packs\[0\]: unknown batch B1"),
    ({"decommissioned": [{"product_code": "x", "serial": "s", "reason": "RECALLED",
                          "location": "l"}]}, r"decommissioned\[0\]\.reason: 'RECALLED'"),
    ({"withdrawn_products": [7]}, r"withdrawn_products\[0\]: must be a non-empty string"),
    ({"pack": []}, "unknown key 'pack'"),
]  # fmt: skip


@pytest.mark.parametrize(("document", "message"), BAD_DOCUMENTS)
def test_a_malformed_document_names_the_entry(document: Any, message: str) -> None:
    with pytest.raises(MasterDataError, match=message):
        load_master_data(MockHub(), MasterData.from_json(document))


def test_a_malformed_file_is_one_line_and_nothing_starts(tmp_path: Path) -> None:
    data = tmp_path / "master-data.json"
    data.write_text('{"packs": [{"product_code": "09506000134352", "serial": "S1"}]}')
    config = mock_config(tmp_path, data)
    scans = tmp_path / "scans.txt"
    scans.write_text(f"{PACK_UI}\n")
    db = tmp_path / "fmd.db"
    config.write_text(
        config.read_text()
        + f'[store]\nurl = "sqlite:///{db}"\n[[scanners]]\nkind = "script"\npath = "{scans}"\n'
    )
    for command in (["run"], ["verify", PACK_UI]):
        result = runner.invoke(app, [*command, "--config", str(config)])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "packs[0]: missing 'batch'" in lines[0]
        assert str(data) in lines[0]
    assert not db.exists()


def test_a_file_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "master-data.json"
    data.write_text("{not json")
    result = runner.invoke(app, ["sim", "hub", "--master-data", str(data)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr
    assert "Traceback" not in result.output


def test_sim_hub_serves_a_master_data_file_as_the_market_asked(tmp_path: Path) -> None:
    data, _ = written_delivery(tmp_path, packs=25)
    args = [sys.executable, "-m", "robot_controller", "sim", "hub", "--master-data", str(data),
            "--market", "fi"]  # fmt: skip
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as simulator:
        assert simulator.stdout is not None
        served: list[str] = []
        give_up = threading.Timer(60, simulator.kill)  # a simulator that never says it is up
        give_up.start()
        try:
            while "Ctrl-C stops" not in " ".join(" ".join(served).split()):
                line = simulator.stdout.readline()
                assert line, f"the simulator ended: {served}"
                served.append(line)
        finally:
            give_up.cancel()
            simulator.terminate()
    packs = len(json.loads(data.read_text())["packs"])
    assert f"{packs} packs of master data loaded" in " ".join(served)
    assert any(line.startswith("market fi: FiMVS") for line in served)


@pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() != "x86_64",
    reason="tgkill (syscall 234 on x86-64 Linux): a signal sent to one thread",
)
def test_the_hub_simulator_stops_on_sigterm_whichever_thread_receives_it(tmp_path: Path) -> None:
    data, _ = written_delivery(tmp_path, packs=5)
    args = [sys.executable, "-m", "robot_controller", "sim", "hub", "--master-data", str(data)]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as simulator:
        assert simulator.stdout is not None
        for line in simulator.stdout:
            if "Ctrl-C stops" in line:
                break
        while not handles_sigterm(simulator.pid):  # the simulator has set up its stop
            time.sleep(0.01)
        threads = [int(t) for t in os.listdir(f"/proc/{simulator.pid}/task")]
        server_thread = max(t for t in threads if t != simulator.pid)
        tgkill = 234  # x86-64 syscall number; the process-wide kill may pick any thread
        ctypes.CDLL(None, use_errno=True).syscall(tgkill, simulator.pid, server_thread, 15)
        try:
            simulator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            simulator.kill()
            pytest.fail("the simulator ignored a SIGTERM that reached one of its server threads")


def handles_sigterm(pid: int) -> bool:
    """Whether the process has a SIGTERM handler (Linux: the SigCgt mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (15 - 1)))

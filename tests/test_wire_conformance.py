"""The driver's and the simulator's readings of the two robot wire protocols agree with each
other and with ARCHITECTURE.md: the Modbus register map and its codes, and the serial line
protocol's verbs, codes and checksum, each encoded by one side and decoded by the other."""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
import typing
from enum import IntEnum, IntFlag
from pathlib import Path

import pytest

from robot_controller.robot import base, line_jobs, line_protocol, modbus_codec, registers
from simulators import plc, robot_model, serial_robot

DOC = Path(__file__).parent.parent / "ARCHITECTURE.md"
ROBOT_TO_HOST, HOST_TO_ROBOT = "robot → host", "host → robot"


def tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Each `### heading`'s Markdown table, as rows keyed by the header cells."""
    found: dict[str, list[dict[str, str]]] = {}
    heading = ""
    header: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            heading, header = line.lstrip("#").strip(), []
        elif line.startswith("|") and not re.fullmatch(r"\|[-| ]+\|", line):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if header:
                found.setdefault(heading, []).append(dict(zip(header, cells, strict=True)))
            else:
                header = cells
    return found


DOC_TABLES = tables(DOC.read_text(encoding="utf-8"))


def documented(heading: str, key: str = "Code") -> dict[str, int]:
    return {row["Name"]: int(row[key]) for row in DOC_TABLES[heading]}


def members(enum: type[IntEnum] | type[IntFlag], *absent: str) -> dict[str, int]:
    """An enum's names and numbers, without the placeholders only one side has (a flag's
    members named as iterated, so never the nameless combinations)."""
    return {m.name: int(m) for m in enum if m.name is not None and m.name not in absent}


# -- Modbus --------------------------------------------------------------------------------------


def doc_registers() -> dict[str, tuple[int, int, str]]:
    """name → (address, width, direction)."""
    rows: dict[str, tuple[int, int, str]] = {}
    for row in DOC_TABLES["Registers"]:
        first, _, last = row["Address"].partition("–")
        rows[row["Name"]] = (int(first), int(last or first) - int(first) + 1, row["Direction"])
    return rows


def test_the_register_maps_agree_with_each_other_and_the_document() -> None:
    doc = doc_registers()
    addresses = {name: address for name, (address, _, _) in doc.items()}
    assert members(registers.Register) == addresses
    assert members(plc.Reg) == addresses


def test_every_register_lies_in_its_block_and_u32s_take_two() -> None:
    doc = doc_registers()
    status = range(registers.STATUS_START, registers.STATUS_START + registers.STATUS_COUNT)
    assert status == range(plc.Reg.IF_VERSION, plc.Reg.IF_VERSION + plc.STATUS_COUNT)
    commands = range(plc.Reg.HOST_HEARTBEAT, plc.Reg.HOST_HEARTBEAT + plc.COMMAND_COUNT)
    covered = {a for address, width, _ in doc.values() for a in range(address, address + width)}
    assert {a for a in covered if a in status} == set(status)  # the status block has no gap
    for address, width, direction in doc.values():
        block = status if direction == ROBOT_TO_HOST else commands
        assert direction in (ROBOT_TO_HOST, HOST_TO_ROBOT)
        assert address in block
        assert address + width - 1 in block
    location, width, _ = doc["JOB_LOCATION"]
    assert doc["JOB_CODE"][0] == registers.JOB_START
    assert location + width == registers.JOB_START + registers.JOB_COUNT
    assert set(range(registers.JOB_START, location + width)) <= covered  # u32s take two
    assert doc["IF_VERSION"][0] == 0
    (version,) = [r["Meaning"] for r in DOC_TABLES["Registers"] if r["Name"] == "IF_VERSION"]
    assert f"{robot_model.IF_VERSION:#06x}" in version
    assert registers.INTERFACE_VERSION == robot_model.IF_VERSION


@pytest.mark.parametrize(
    ("heading", "driver", "simulator", "placeholders"),
    [
        ("Job codes", base.JobCode, robot_model.JobCode, ("NOP",)),
        ("Job reasons", base.JobReason, robot_model.JobReason, ()),
        ("Job results", base.JobResult, robot_model.JobResult, ("NONE",)),
        ("PackML states", base.PackMLState, robot_model.PackMLState, ("UNDEFINED",)),
        ("PackML commands", base.MachineCommand, robot_model.PackMLCommand, ("NONE",)),
    ],
)
def test_the_codes_agree(
    heading: str, driver: type[IntEnum], simulator: type[IntEnum], placeholders: tuple[str, ...]
) -> None:
    assert members(driver) == documented(heading)
    assert members(simulator, *placeholders) == documented(heading)


def test_the_status_word_bits_agree() -> None:
    bits = {name: 1 << bit for name, bit in documented("Status word bits", "Bit").items()}
    assert members(base.StatusFlags, "NONE") == bits
    assert members(robot_model.StatusBit) == bits


def test_a_job_the_driver_writes_is_the_job_the_simulator_reads() -> None:
    job = base.Job(
        base.JobCode.RETRIEVE_TO_QUARANTINE, 0x1234_5678, base.JobReason.OPERATOR, 70_000
    )
    words = dict(enumerate(modbus_codec.encode_job(job, 513), registers.JOB_START))
    assert words[plc.Reg.JOB_CODE] == job.code
    assert words[plc.Reg.JOB_REASON] == job.reason
    assert plc.u32(words[plc.Reg.JOB_TOKEN], words[plc.Reg.JOB_TOKEN + 1]) == job.token
    assert words[plc.Reg.JOB_SEQ] == 513
    assert plc.u32(words[plc.Reg.JOB_LOCATION], words[plc.Reg.JOB_LOCATION + 1]) == job.location


async def test_a_status_the_simulator_writes_is_the_status_the_driver_reads() -> None:
    model = robot_model.RobotModel()
    for seq, token in enumerate((11, 12, 70_000), 1):
        await model.run_job(seq, robot_model.JobCode.PLACE_ON_SHELF, 0, token)
    await model.run_job(4, robot_model.JobCode.DIVERT_TO_REJECT, 1, 13)
    model.command(9, robot_model.PackMLCommand.HOLD)
    status = modbus_codec.decode_status(plc.status_registers(model))
    assert status.interface_version == robot_model.IF_VERSION
    assert status.state is base.PackMLState.HELD
    assert int(status.flags) == model.status_word()
    assert (status.job_ack_seq, status.job_done_seq) == (4, 4)
    assert status.job_result is base.JobResult.REJECTED
    assert (status.packs_stored, status.packs_rejected) == (3, 1)
    assert (status.command_ack_seq, status.command_rejected) == (9, False)
    assert (status.acked_token, status.done_token) == (13, 13)
    model.acked_token = 0x1_0004  # a job taken, not yet done: its token echoed with the ack
    status = modbus_codec.decode_status(plc.status_registers(model))
    assert (status.acked_token, status.done_token) == (0x1_0004, 13)
    model.packs_stored = 0x1_0002  # a u32 across both words
    assert modbus_codec.decode_status(plc.status_registers(model)).packs_stored == 0x1_0002


# -- the serial line -----------------------------------------------------------------------------


def doc_verbs(direction: str) -> dict[tuple[str, bool], list[str]]:
    """(verb, solicited) → argument names, for one direction."""
    return {
        (row["Verb"], row["Seq"] == "seq"): row["Arguments"].split()
        for row in DOC_TABLES["Verbs"]
        if row["Direction"] == direction
    }


def driver_verbs(frames: object) -> dict[tuple[str, bool], list[str]]:
    verbs = {}
    for cls in typing.get_args(frames):
        names = [field.name for field in dataclasses.fields(cls)]
        solicited = names[:1] == ["seq"]
        verbs[(cls.VERB, solicited)] = names[solicited:]
    return verbs


def test_the_verbs_agree_with_the_document() -> None:
    host, robot = doc_verbs(HOST_TO_ROBOT), doc_verbs(ROBOT_TO_HOST)
    assert driver_verbs(line_protocol.HostFrame) == host
    assert driver_verbs(line_protocol.RobotFrame) == robot
    sim_host = {verb: len(args) for (verb, solicited), args in host.items() if solicited}
    assert sim_host == serial_robot._ARITY


def test_the_nak_codes_agree() -> None:
    doc = documented("NAK codes")
    assert members(line_protocol.NakCode) == doc
    assert {name: getattr(serial_robot, f"NAK_{name}") for name in doc} == doc


def xor(body: bytes) -> int:
    """The checksum as the document defines it."""
    return functools.reduce(operator.xor, body, 0)


@pytest.mark.parametrize(
    "body", [b"1 PLACE 42", b"* HB 65535", b"65535 STATUS 6 513 0 9 1 2 3 9 42 8 1 7 41"]
)
def test_both_checksums_are_the_documented_xor(body: bytes) -> None:
    assert line_protocol.checksum(body) == xor(body)
    head, verb, *args = body.decode().split(" ")
    line = serial_robot.frame(head, verb, *map(int, args))
    assert line == body + b"*%02X\r\n" % xor(body)


HOST_FRAMES = [
    line_protocol.Place(1, 4_294_967_295),
    line_protocol.Reject(2, 12, base.JobReason.FMD_ALERT),
    line_protocol.Quarantine(3, 13, base.JobReason.HUB_UNAVAILABLE),
    line_protocol.Retrieve(65535, 70_000, 4_294_967_295),
    line_protocol.StatusRequest(4),
    line_protocol.Command(5, base.MachineCommand.START),
    line_protocol.FaultAck(6, 900),
    line_protocol.Heartbeat(65535),
]


@pytest.mark.parametrize("sent", HOST_FRAMES, ids=lambda f: type(f).__name__)
def test_what_the_driver_sends_the_simulator_reads(sent: line_protocol.HostFrame) -> None:
    line = line_protocol.encode(sent)
    assert line.endswith(b"\r\n")
    request = serial_robot.parse_request(line.removesuffix(b"\r\n"))
    values = [getattr(sent, field.name) for field in dataclasses.fields(sent)]
    solicited = not isinstance(sent, line_protocol.Heartbeat)
    assert (request.head, request.verb, request.error) == (
        str(values[0]) if solicited else "*",
        sent.VERB,
        0,
    )
    assert list(request.args) == values[solicited:]


def test_a_bad_line_is_refused_alike() -> None:
    good = line_protocol.encode(line_protocol.Place(7, 42)).removesuffix(b"\r\n")
    wrong_sum = good[:-1] + (b"0" if good[-1:] != b"0" else b"1")
    assert serial_robot.parse_request(wrong_sum).error == line_protocol.NakCode.BAD_CHECKSUM
    decoded = line_protocol.decode_host(wrong_sum)
    assert isinstance(decoded, line_protocol.DecodeError)
    assert decoded.nak is line_protocol.NakCode.BAD_CHECKSUM
    body = b"7 PLACE 42 43"
    extra = body + b"*%02X" % xor(body)
    assert serial_robot.parse_request(extra).error == line_protocol.NakCode.BAD_FRAME
    decoded = line_protocol.decode_host(extra)
    assert isinstance(decoded, line_protocol.DecodeError)
    assert decoded.nak is line_protocol.NakCode.BAD_FRAME


ROBOT_FRAMES = [
    line_protocol.Ack(1),
    line_protocol.Nak(2, line_protocol.NakCode.SEQ_REUSED),
    line_protocol.Done(3, base.JobResult.STORED, 4_294_967_295),
    line_protocol.Err(4, 200),
    line_protocol.StatusReply(
        5, base.PackMLState.EXECUTE, 0x221, 0, 4, 70_000, 2, 1, 4, 0x1234_5678, 3, 1, 9, 77
    ),
    line_protocol.StateChange(base.PackMLState.HELD, 0x211),
    line_protocol.Heartbeat(0),
]


@pytest.mark.parametrize("expected", ROBOT_FRAMES, ids=lambda f: type(f).__name__)
def test_what_the_simulator_sends_the_driver_reads(expected: line_protocol.RobotFrame) -> None:
    values = [getattr(expected, field.name) for field in dataclasses.fields(expected)]
    unsolicited = isinstance(expected, line_protocol.Heartbeat | line_protocol.StateChange)
    head = "*" if unsolicited else values.pop(0)
    line = serial_robot.frame(head, expected.VERB, *values)
    assert line_protocol.decode_robot(line) == expected
    assert line == line_protocol.encode(expected)


async def test_a_status_the_serial_simulator_sends_is_the_status_the_driver_reads() -> None:
    model = robot_model.RobotModel()
    await model.run_job(8, robot_model.JobCode.PLACE_ON_SHELF, 0, 70_000)
    model.job_ack_seq, model.acked_token = 9, 0x1_0004  # taken, still running after a restart
    simulator = serial_robot.SerialRobotSimulator(model)
    reply = line_protocol.decode_robot(serial_robot.frame(5, "STATUS", *simulator._status()))
    assert isinstance(reply, line_protocol.StatusReply)
    status = line_jobs.status_of(reply, heartbeat=0)
    assert (status.job_ack_seq, status.acked_token) == (9, 0x1_0004)
    assert (status.job_done_seq, status.done_token) == (8, 70_000)
    assert (status.job_result, status.location) == (base.JobResult.STORED, 1)
    assert base.StatusFlags.PACK_AT_TRANSFER in status.flags

"""The Modbus register map as the driver reads and writes it (holding registers, 0-based PDU
addresses; a u32 is two registers, high word first). ARCHITECTURE.md documents it; the PLC
simulator keeps its own copy, and `tests/test_wire_conformance.py` checks all three agree."""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class Register(IntEnum):
    """Holding register addresses: the status block (robot → host) then the command block."""

    IF_VERSION = 0
    HEARTBEAT = 1
    STATE = 2
    UNIT_MODE = 3
    STATUS_WORD = 4
    JOB_ACK_SEQ = 5
    JOB_DONE_SEQ = 6
    JOB_RESULT = 7
    LOCATION = 8  # u32, 8–9
    FAULT_CODE = 10
    CMD_ACK_SEQ = 11
    CMD_REJECTED = 12
    PACKS_STORED = 13  # u32, 13–14
    PACKS_REJECTED = 15
    ACKED_TOKEN = 16  # u32, 16–17
    DONE_TOKEN = 18  # u32, 18–19
    HOST_HEARTBEAT = 100
    JOB_CODE = 101
    JOB_REASON = 102
    JOB_TOKEN = 103  # u32, 103–104
    JOB_SEQ = 105
    JOB_LOCATION = 106  # u32, 106–107
    CNTRL_CMD = 110
    CMD_SEQ = 111
    FAULT_ACK = 112


INTERFACE_VERSION: Final = 0x0200
"""The map's version (register 0): the driver speaks to a robot of the same major (high byte)."""

STATUS_START: Final = Register.IF_VERSION
STATUS_COUNT: Final = Register.DONE_TOKEN + 2 - STATUS_START
"""The status block, read in one FC3."""

JOB_START: Final = Register.JOB_CODE
JOB_COUNT: Final = Register.JOB_LOCATION + 2 - JOB_START
"""A job's registers (code … location), written in one FC16."""

"""The serial robot's line codec: every frame encodes and decodes back exactly, any damage to a
line is a typed `DecodeError` (never an exception), and seqs wrap past 0."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robot_controller.robot.base import next_seq
from robot_controller.robot.line_protocol import (
    MAX_LINE,
    Ack,
    Command,
    DecodeError,
    Done,
    Err,
    ErrorKind,
    FaultAck,
    Heartbeat,
    Nak,
    NakCode,
    Place,
    Quarantine,
    Reject,
    Retrieve,
    StateChange,
    StatusReply,
    StatusRequest,
    bounds,
    checksum,
    decode_host,
    decode_robot,
    encode,
)


def frames(classes: tuple[type[Any], ...]) -> st.SearchStrategy[Any]:
    """Any frame of these classes, with every field in its range."""
    return st.one_of(
        *(
            st.builds(
                cls,
                **{f.name: st.integers(*bounds(f.name)) for f in dataclasses.fields(cls)},
            )
            for cls in classes
        )
    )


HOST = (Place, Reject, Quarantine, Retrieve, StatusRequest, Command, FaultAck, Heartbeat)
ROBOT = (Ack, Nak, Done, Err, StatusReply, StateChange, Heartbeat)


@given(frames(HOST))
def test_host_frames_round_trip(frame: Any) -> None:
    line = encode(frame)
    assert line.endswith(b"\r\n")
    assert len(line) - 2 <= MAX_LINE
    assert decode_host(line) == frame


@given(frames(ROBOT))
def test_robot_frames_round_trip(frame: Any) -> None:
    line = encode(frame)
    assert len(line) - 2 <= MAX_LINE  # even the longest STATUS
    assert decode_robot(line) == frame


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_frame_or_an_error(line: bytes) -> None:
    assert isinstance(decode_host(line), (DecodeError, *HOST))
    assert isinstance(decode_robot(line), (DecodeError, *ROBOT))


@given(frames(ROBOT), st.data())
def test_any_flipped_bit_is_caught(frame: Any, data: st.DataObject) -> None:
    line = bytearray(encode(frame))
    at = data.draw(st.integers(0, line.rindex(b"*") - 1))
    line[at] ^= 1 << data.draw(st.integers(0, 7))
    result = decode_robot(bytes(line))
    assert isinstance(result, DecodeError), result


def test_the_documented_examples() -> None:
    assert encode(Place(7, 123456)) == b"7 PLACE 123456*%02X\r\n" % checksum(b"7 PLACE 123456")
    assert encode(Heartbeat(3)).startswith(b"* HB 3*")
    assert decode_robot(b"12 DONE 1 42*%02x" % checksum(b"12 DONE 1 42")) == Done(12, 1, 42)
    assert decode_host(b"5 ACK 200*%02X\r\n" % checksum(b"5 ACK 200")) == FaultAck(5, 200)
    assert decode_robot(b"5 ACK*%02X\r\n" % checksum(b"5 ACK")) == Ack(5)


def signed(body: bytes) -> bytes:
    return body + b"*%02X\r\n" % checksum(body)


@pytest.mark.parametrize(
    ("line", "kind", "seq"),
    [
        (b"7 DONE 1 4*00\r\n", ErrorKind.CHECKSUM, 7),
        (b"7 DONE 1 4\r\n", ErrorKind.SYNTAX, 7),
        (b"7 DONE 1 4*G1\r\n", ErrorKind.SYNTAX, 7),
        (b"7 DONE 1 4*123\r\n", ErrorKind.SYNTAX, 7),
        (signed(b"7 MOVE 1"), ErrorKind.VERB, 7),
        (signed(b"7 HB 1"), ErrorKind.VERB, 7),  # HB is unsolicited
        (signed(b"* DONE 1 2"), ErrorKind.VERB, None),
        (signed(b"7 DONE 1"), ErrorKind.ARGUMENTS, 7),
        (signed(b"7 DONE 1 2 3"), ErrorKind.ARGUMENTS, 7),
        (signed(b"7 DONE one 2"), ErrorKind.ARGUMENTS, 7),
        (signed(b"7 DONE -1 2"), ErrorKind.ARGUMENTS, 7),
        (signed(b"7 DONE 4294967296 2"), ErrorKind.ARGUMENTS, 7),
        (signed(b"7 DONE 1  2"), ErrorKind.ARGUMENTS, 7),
        (signed(b"* HB 65536"), ErrorKind.ARGUMENTS, None),
        (signed(b"0 ACK"), ErrorKind.SYNTAX, None),
        (signed(b"65536 ACK"), ErrorKind.SYNTAX, None),
        (signed(b"x ACK"), ErrorKind.SYNTAX, None),
        (signed("7 DONE 1 ²".encode()), ErrorKind.SYNTAX, 7),
        (signed(b"7 ACK " + b"1" * MAX_LINE), ErrorKind.TOO_LONG, None),
        (b"", ErrorKind.SYNTAX, None),
    ],
)
def test_bad_lines_are_typed_errors(line: bytes, kind: ErrorKind, seq: int | None) -> None:
    error = decode_robot(line)
    assert isinstance(error, DecodeError)
    assert (error.kind, error.seq) == (kind, seq), error.detail


def test_a_checksum_error_is_naked_as_such() -> None:
    error = decode_host(b"7 PLACE 1*00\r\n")
    assert isinstance(error, DecodeError)
    assert error.nak is NakCode.BAD_CHECKSUM
    other = decode_host(signed(b"7 PLACE"))
    assert isinstance(other, DecodeError)
    assert other.nak is NakCode.BAD_FRAME


def test_directions_are_not_confused() -> None:
    assert isinstance(decode_host(encode(Done(1, 1, 1))), DecodeError)
    assert isinstance(decode_robot(encode(Place(1, 1))), DecodeError)


@pytest.mark.parametrize(
    "frame", [Place(0, 1), Heartbeat(0x10000), Done(1, 1, 1 << 32), Ack(0x10000)]
)
def test_encoding_a_value_out_of_range_is_refused(frame: Any) -> None:
    with pytest.raises(ValueError, match="outside"):
        encode(frame)


def test_seq_wraps_past_zero() -> None:
    assert next_seq(1) == 2
    assert next_seq(0xFFFE) == 0xFFFF
    assert next_seq(0xFFFF) == 1
    assert next_seq(0) == 1

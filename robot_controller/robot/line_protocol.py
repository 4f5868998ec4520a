"""The serial robot's line protocol (ARCHITECTURE.md): frames as values, and a pure codec for them.

One frame is one ASCII line `<seq> <VERB> [args…]*<XX>\\r\\n`, fields split by one space. XX is
the XOR of every byte before the last `*`, as two hex digits (sent upper case, read either case).
`<seq>` is 1…65535, wrapping 65535 → 1 (0 is never used); `*` marks an unsolicited frame. Every
argument is an unsigned decimal number below 2**32; seqs, states, status words, faults and
results (16-bit registers on Modbus) below 2**16. A line is at most `MAX_LINE` bytes.

Host → robot                          Robot → host
  <seq> PLACE <token>                   <seq> ACK                 request taken (a job: started)
  <seq> REJECT <token> <reason>         <seq> NAK <code>          request not taken (`NakCode`)
  <seq> QUARANTINE <token> <reason>     <seq> DONE <result> <location>   a job's end
  <seq> RETRIEVE <location> <token>     <seq> ERR <fault>         a job failed (result 20)
  <seq> STATUS                          <seq> STATUS <state> <status-word> <fault> <last-seq>
  <seq> CMD <packml-command>                  <stored> <rejected> <quarantined> <ack-seq>
  <seq> ACK <fault>                           <acked-token> <done-seq> <result> <location>
  * HB <n>  every 0.5 s                       <done-token>
                                        * STATE <state> <status-word>   on a state change
                                        * HB <n>  every 0.25 s

Numbers are those of the Modbus register map: results, reasons, PackML states and commands,
status-word bits (b5: a pack waits at the transfer point), fault codes. The robot's `* HB <n>`
counts 0…65535 and wraps; a heartbeat is alive while its counter changes. The host's heartbeat
is unsolicited (never answered, no seq spent); it counts 1…65535 (0 skipped) from a random
start, is the host's first frame, and `* HB 0` says the host leaves: the robot's watchdog stands
down until a host beats again. `last-seq` is the seq of the robot's latest job, CMD or fault ACK
(0: none yet). The job fields of STATUS answer what a restarted host asks: `ack-seq` and
`acked-token` name the latest job taken, `done-seq`, `result`, `location` and `done-token` the
latest job finished (0: none); a job still running shows `ack-seq` ahead of `done-seq`.

Replies: a job is answered ACK at once, then DONE or ERR; a refused job is ACK then DONE 10
(not ready) or DONE 11 (bad command). CMD and fault ACK are answered ACK or NAK 3; STATUS by
STATUS.

Reliability: the requester re-sends, the responder remembers.
- The robot remembers its recent replies by seq: a repeated seq with the same request is
  answered again (ACK, and DONE/ERR once finished) and never executed twice; a repeated seq with
  a different request gets NAK 4. STATUS is read-only and always answered afresh.
- The robot NAKs a bad frame whose seq it can read: NAK 1 (checksum), NAK 2 (syntax, verb,
  arguments). The host re-sends the same seq at once.
- The host never NAKs: it drops a bad frame from the robot, and when no answer has come within
  its ack timeout it re-sends its request with the same seq, which brings the reply again.
  While a job runs the same re-send is the host's poll: ACK means still running. A lost or
  garbled DONE thus costs one ack timeout, never a second move.
- At connect the host reads STATUS and goes on from `last-seq` + 1, so a restarted host never
  reuses a seq the robot still remembers.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Final

MAX_LINE: Final = 128
"""The longest line, without CR LF."""

SEQ_MAX: Final = 0xFFFF
_U32: Final = 0xFFFF_FFFF
_DIGITS_MAX: Final = 10


class NakCode(IntEnum):
    BAD_CHECKSUM = 1
    BAD_FRAME = 2
    NOT_ALLOWED = 3
    SEQ_REUSED = 4


# -- frames ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    VERB: ClassVar[str] = "PLACE"
    seq: int
    token: int


@dataclass(frozen=True, slots=True)
class Reject:
    VERB: ClassVar[str] = "REJECT"
    seq: int
    token: int
    reason: int


@dataclass(frozen=True, slots=True)
class Quarantine:
    VERB: ClassVar[str] = "QUARANTINE"
    seq: int
    token: int
    reason: int


@dataclass(frozen=True, slots=True)
class Retrieve:
    VERB: ClassVar[str] = "RETRIEVE"
    seq: int
    location: int
    token: int


@dataclass(frozen=True, slots=True)
class StatusRequest:
    VERB: ClassVar[str] = "STATUS"
    seq: int


@dataclass(frozen=True, slots=True)
class Command:
    VERB: ClassVar[str] = "CMD"
    seq: int
    command: int


@dataclass(frozen=True, slots=True)
class FaultAck:
    VERB: ClassVar[str] = "ACK"
    seq: int
    fault: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """`* HB <n>`, sent both ways."""

    VERB: ClassVar[str] = "HB"
    n: int


@dataclass(frozen=True, slots=True)
class Ack:
    VERB: ClassVar[str] = "ACK"
    seq: int


@dataclass(frozen=True, slots=True)
class Nak:
    VERB: ClassVar[str] = "NAK"
    seq: int
    code: int


@dataclass(frozen=True, slots=True)
class Done:
    VERB: ClassVar[str] = "DONE"
    seq: int
    result: int
    location: int


@dataclass(frozen=True, slots=True)
class Err:
    VERB: ClassVar[str] = "ERR"
    seq: int
    fault: int


@dataclass(frozen=True, slots=True)
class StatusReply:
    VERB: ClassVar[str] = "STATUS"
    seq: int
    state: int
    status_word: int
    fault: int
    last_seq: int
    stored: int
    rejected: int
    quarantined: int
    ack_seq: int
    acked_token: int
    done_seq: int
    result: int
    location: int
    done_token: int


@dataclass(frozen=True, slots=True)
class StateChange:
    """`* STATE <state> <status-word>`."""

    VERB: ClassVar[str] = "STATE"
    state: int
    status_word: int


Request = Place | Reject | Quarantine | Retrieve | StatusRequest | Command | FaultAck
HostFrame = Request | Heartbeat
Reply = Ack | Nak | Done | Err | StatusReply
RobotFrame = Reply | StateChange | Heartbeat
Frame = HostFrame | RobotFrame

_UNSOLICITED = (Heartbeat, StateChange)
_HOST = (Place, Reject, Quarantine, Retrieve, StatusRequest, Command, FaultAck, Heartbeat)
_ROBOT = (Ack, Nak, Done, Err, StatusReply, StateChange, Heartbeat)
_U16_FIELDS = ("n", "last_seq", "ack_seq", "done_seq", "state", "status_word", "fault", "result")
_LIMITS = {"seq": (1, SEQ_MAX)} | {name: (0, SEQ_MAX) for name in _U16_FIELDS}


def bounds(field: str) -> tuple[int, int]:
    """The range of a frame field's values, by its name."""
    return _LIMITS.get(field, (0, _U32))


def _table(classes: tuple[type[Any], ...]) -> dict[tuple[bool, str], type[Any]]:
    """(solicited, verb) → frame class."""
    return {(cls not in _UNSOLICITED, cls.VERB): cls for cls in classes}


_HOST_VERBS = _table(_HOST)
_ROBOT_VERBS = _table(_ROBOT)


# -- the codec ---------------------------------------------------------------------------------


class ErrorKind(StrEnum):
    TOO_LONG = "too long"
    SYNTAX = "syntax"
    CHECKSUM = "checksum"
    VERB = "unknown verb"
    ARGUMENTS = "arguments"


@dataclass(frozen=True, slots=True)
class DecodeError:
    """A line that is not a valid frame. `seq` is its seq when readable, so it can be NAKed."""

    kind: ErrorKind
    detail: str
    seq: int | None = None

    @property
    def nak(self) -> NakCode:
        return NakCode.BAD_CHECKSUM if self.kind is ErrorKind.CHECKSUM else NakCode.BAD_FRAME


def checksum(body: bytes) -> int:
    """The XOR of the bytes."""
    return functools.reduce(operator.xor, body, 0)


def encode(frame: Frame) -> bytes:
    """The line for a frame, CR LF included. A value out of range is a `ValueError`."""
    values: list[str] = []
    for field in dataclasses.fields(frame):
        value = getattr(frame, field.name)
        low, high = bounds(field.name)
        if not low <= value <= high:
            raise ValueError(f"{frame.VERB} {field.name}={value} is outside {low}…{high}")
        values.append(str(value))
    head = ["*"] if isinstance(frame, _UNSOLICITED) else [values.pop(0)]
    body = " ".join([*head, frame.VERB, *values]).encode("ascii")
    return body + b"*%02X\r\n" % checksum(body)


def decode_host(line: bytes) -> HostFrame | DecodeError:
    """A frame the host sent (the robot's side), or why the line is not one."""
    result: HostFrame | DecodeError = _decode(line, _HOST_VERBS)
    return result


def decode_robot(line: bytes) -> RobotFrame | DecodeError:
    """A frame the robot sent (the host's side), or why the line is not one."""
    result: RobotFrame | DecodeError = _decode(line, _ROBOT_VERBS)
    return result


def _decode(line: bytes, verbs: dict[tuple[bool, str], type[Any]]) -> Any:
    line = line.removesuffix(b"\n").removesuffix(b"\r")
    if len(line) > MAX_LINE:
        return DecodeError(ErrorKind.TOO_LONG, f"{len(line)} bytes, at most {MAX_LINE}")
    body, star, sent = line.rpartition(b"*")
    head = line.partition(b" ")[0]
    rest = body.partition(b" ")[2]
    seq = _number(head, 1, SEQ_MAX)
    if not star or len(sent) != 2 or not _is_hex(sent) or not line.isascii():
        return DecodeError(ErrorKind.SYNTAX, "not `<seq> <VERB> [args]*<XX>`", seq)
    if int(sent, 16) != (actual := checksum(body)):
        return DecodeError(ErrorKind.CHECKSUM, f"sent {sent.decode()}, is {actual:02X}", seq)
    solicited = head != b"*"
    if solicited and seq is None:
        return DecodeError(ErrorKind.SYNTAX, f"seq {head!r} is not 1…{SEQ_MAX} or *")
    verb, *texts = rest.decode("ascii").split(" ")
    cls = verbs.get((solicited, verb))
    if cls is None:
        return DecodeError(ErrorKind.VERB, f"{'' if solicited else '* '}{verb!r}", seq)
    names = [field.name for field in dataclasses.fields(cls)][solicited:]
    if len(texts) != len(names):
        return DecodeError(ErrorKind.ARGUMENTS, f"{verb} takes {len(names)}", seq)
    args = [_number(text.encode(), *bounds(name)) for text, name in zip(texts, names, strict=True)]
    if None in args:
        return DecodeError(ErrorKind.ARGUMENTS, f"{verb} {' '.join(texts)}: bad number", seq)
    return cls(*([seq] if solicited else []), *args)


def _number(text: bytes, low: int, high: int) -> int | None:
    if not (text.isdigit() and len(text) <= _DIGITS_MAX):
        return None
    value = int(text)
    return value if low <= value <= high else None


def _is_hex(text: bytes) -> bool:
    return all(byte in b"0123456789abcdefABCDEF" for byte in text)

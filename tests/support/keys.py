"""Linux input events as a US-layout keyboard-wedge scanner sends them."""

from __future__ import annotations

from scanners.keyboard import EV_KEY, INPUT_EVENT

# Key codes (linux/input-event-codes.h) for the keystrokes a US-layout wedge sends.
SHIFT, RIGHT_SHIFT, CTRL, CAPS_LOCK, ENTER, KP_ENTER, F1 = 42, 54, 29, 58, 28, 96, 59
PLAIN = {
    **{c: 2 + i for i, c in enumerate("1234567890-=")},
    **{c: 16 + i for i, c in enumerate("qwertyuiop[]")},
    **{c: 30 + i for i, c in enumerate("asdfghjkl;'`")},
    **{c: 43 + i for i, c in enumerate("\\zxcvbnm,./")},
    " ": 57,
}
SHIFTED = dict(zip('!@#$%^&*()_+QWERTYUIOP{}ASDFGHJKL:"~|ZXCVBNM<>?', [
    *range(2, 14), *range(16, 28), *range(30, 42), *range(43, 54)], strict=True))  # fmt: skip


def event(code: int, value: int, kind: int = EV_KEY) -> bytes:
    """One input event: `value` 1 is a press, 0 a release, 2 a repeat."""
    return INPUT_EVENT.pack(1_700_000_000, 0, kind, code, value)


def tap(code: int) -> bytes:
    """A key pressed and released."""
    return event(code, 1) + event(code, 0) + event(0, 0, kind=0)  # press, release, EV_SYN


def with_key(modifier: int, keys: bytes) -> bytes:
    """`keys` typed with `modifier` held down."""
    return event(modifier, 1) + keys + event(modifier, 0)


def keystrokes(text: str) -> bytes:
    """What a US-layout wedge sends to type `text`: GS as Ctrl+], newline as Enter."""
    out = b""
    for char in text:
        if char == "\x1d":
            out += with_key(CTRL, tap(PLAIN["]"]))
        elif char == "\n":
            out += tap(ENTER)
        elif char in PLAIN:
            out += tap(PLAIN[char])
        else:
            out += with_key(SHIFT, tap(SHIFTED[char]))
    return out

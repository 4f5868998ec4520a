"""The table of GS1 Application Identifiers: how long each one's data is and whether it ends at
a separator.

Lengths follow the GS1 General Specifications AI table (as mirrored by the GS1 Barcode Syntax
Dictionary and biip's AI list); "predefined" AIs are the prefixes of GenSpecs fig. 7.8.5-1
(gs1-syntax-engine ``fixedAIprefixLengths``), whose data never needs an FNC1/GS after it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AISpec:
    """One AI: its data is `min_length`..`max_length` characters; a `predefined` AI's data has
    exactly `max_length` characters, every other AI's data runs to the next separator."""

    ai: str
    min_length: int
    max_length: int
    predefined: bool


# "first[-last] length[..maximum] [P]": AIs first..last (same width), data length, P = predefined.
_TABLE = """
00 18 P
01-03 14 P
10 1..20
11-13 6 P
15-17 6 P
20 2 P
21-22 1..20
235 1..28
240-241 1..30
242 1..6
243 1..20
250-251 1..30
253 13..30
254 1..20
255 13..25
30 1..8
37 1..8
3900-3909 1..15
3910-3919 4..18
3920-3929 1..15
3930-3939 4..18
3940-3943 4
3950-3955 6
400-401 1..30
402 17
403 1..30
410-417 13 P
420 1..20
421 4..12
422 3
423 4..15
424 3
425 4..15
426 3
427 1..3
4300-4301 1..35
4302-4306 1..70
4307 2
4308 1..30
4309 20
4310-4311 1..35
4312-4316 1..70
4317 2
4318 1..20
4319 1..30
4320 1..35
4321-4323 1
4324-4325 10
4326 6
4330-4333 6..7
7001 13
7002 1..30
7003 10
7004 1..4
7005 1..12
7006 6
7007 6..12
7008 1..3
7009 1..10
7010 1..2
7011 6..10
7020-7022 1..20
7023 1..30
7030-7039 4..30
7040 4
7041 1..4
710-717 1..20
7230-7239 3..30
7240 1..20
7241 2
7242 1..25
7250 8
7251 12
7252 1
7253-7254 1..40
7255 1..10
7256 1..90
7257 1..70
7258 3
7259 1..40
8001 14
8002 1..20
8003 14..30
8004 1..30
8005 6
8006 18
8007 1..34
8008 8..12
8009 1..50
8010 1..30
8011 1..12
8012 1..20
8013-8014 1..25
8017-8018 18
8019 1..10
8020 1..25
8026 18
8030 1..90
8040-8041 15
8042 32
8043 18..20
8110 1..70
8111 4
8112 1..70
8200 1..70
90 1..30
91-99 1..90
"""

# Trade measures 31nn-36nn (GenSpecs §3.6): the 3-digit stems in use, each with n = 0..5 decimals.
_MEASURE_STEMS = (*range(310, 317), *range(320, 330), *range(330, 338), *range(340, 350))
_MEASURE_STEMS += (*range(350, 358), *range(360, 370))


def _rows() -> list[AISpec]:
    rows: list[AISpec] = []
    for line in _TABLE.split("\n"):
        if not line:
            continue
        span, length, *flag = line.split()
        first, _, last = span.partition("-")
        low, _, high = length.partition("..")
        width = len(first)
        for number in range(int(first), int(last or first) + 1):
            rows.append(AISpec(f"{number:0{width}d}", int(low), int(high or low), flag == ["P"]))
    rows += (AISpec(f"{stem}{n}", 6, 6, True) for stem in _MEASURE_STEMS for n in range(6))
    return rows


AI_TABLE: dict[str, AISpec] = {spec.ai: spec for spec in _rows()}
"""Every GS1 AI this parser knows, by its digits."""

TWO_DIGIT_AIS: dict[str, AISpec] = {ai: spec for ai, spec in AI_TABLE.items() if len(ai) == 2}
"""The two-digit AIs (the common case, found with one look-up)."""

AI_LENGTH_BY_PREFIX: dict[str, int] = {ai[:2]: len(ai) for ai in AI_TABLE}
"""How many digits an AI has, by its first two digits (GS1 keeps this unambiguous)."""


def needs_separator(ai: str) -> bool:
    """True when a GS must follow this AI's data unless it is the last element."""
    return not AI_TABLE[ai].predefined

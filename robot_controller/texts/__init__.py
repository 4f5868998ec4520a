"""Operator texts from a message catalogue: one TOML file per language, shipped in the package.

`catalogue(language)` is the site's `Catalogue` (`[site] language`): `why` is a reason in plain
words, `instruction` what the person at the bench does with a pack, `robot_reject` the line a
robot displays for a pack it was refused (a WWKS2 `Handling Text`). The reasons are
`fmd.policy.Why`, the WWKS2 stock-in's own `StockInWhy` and a hand-out's `HandOutWhy` (which
no robot displays, so [robot] has none); a catalogue without a text for one of them, or with a
key no code knows, fails to load.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files
from string import Formatter
from typing import Final, Literal, get_args

from fmd.policy import Why
from robot_controller.states import HandOutWhy

Language = Literal["en", "de"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)

ROBOT_LINE: Final = 80
"""The longest text for a robot's display line."""


class StockInWhy(StrEnum):
    """Reasons of the WWKS2 stock-in beyond `fmd.policy.Why` (stable strings; a return's are
    `Why.RETURN_*`, as its decisions carry them)."""

    BATCH_MISMATCH = "batch-mismatch"  # the robot's BatchNumber is not the scanned code's
    EXPIRY_MISMATCH = "expiry-mismatch"  # the robot's ExpiryDate is not the scanned code's
    SERIAL_MISMATCH = "serial-mismatch"  # the robot's SerialNumber is not the scanned code's
    NOT_A_UI = "not-a-ui"  # the ScanCode is not a pack's unique identifier
    MALFORMED_REQUEST = "malformed-request"
    DEADLINE_PASSED = "deadline-passed"  # the robot's answer deadline came: the offline policy
    ALREADY_ON_SHELF = "already-on-shelf"


Reason = Why | StockInWhy | HandOutWhy
REFUSALS: Final[tuple[Why | StockInWhy, ...]] = (*Why, *StockInWhy)
"""The reasons a robot may be given a line for."""
REASONS: Final[tuple[Reason, ...]] = (*REFUSALS, *HandOutWhy)


class Step(StrEnum):
    """What the person at the bench does with a pack."""

    RESCAN = "rescan"  # take it from the reject tray and scan it again
    REJECT_TRAY = "reject-tray"  # take it from the reject tray, not for the shelf
    QUARANTINE = "quarantine"  # leave it in the quarantine chute
    KEEP = "keep"  # keep it, scan it again when loading resumes
    CHECK = "check"  # check this pack
    TAKE_OUTPUT = "take-output"  # handed out: take it from the robot's output
    NOTHING = "nothing"


PLACEHOLDERS: Final = frozenset({"why", "advice", "message"})
"""What an instruction may name: the plain reason, the advice in brackets, the pack's message."""


class CatalogueError(ValueError):
    """A catalogue file that does not match the code (a packaging error, not a site's)."""


@dataclass(frozen=True, slots=True, eq=False)
class Catalogue:
    """The operator texts of one language."""

    language: Language
    reasons: Mapping[str, str]
    robot: Mapping[str, str]
    steps: Mapping[str, str]

    def why(self, reason: Reason) -> str:
        """The reason in plain words."""
        return self.reasons[reason]

    def instruction(self, step: Step, why: Reason, message: str = "") -> str:
        """What to do with the pack: `message` is the pack's (CHECK) or the advice (RESCAN)."""
        advice = f" ({message})" if message else ""
        return self.steps[step].format(why=self.why(why), advice=advice, message=message)

    def robot_reject(self, reason: Why | StockInWhy, detail: str | None = None) -> str:
        """The robot's display line for the pack, with `detail` in brackets as far as it fits."""
        text = self.robot[reason]
        shown = " ".join("".join(c if c.isprintable() else " " for c in detail or "").split())
        room = ROBOT_LINE - len(text) - len(" ()")
        if not shown or room < 2:
            return text
        if len(shown) > room:
            shown = shown[: room - 1] + "…"
        return f"{text} ({shown})"


@cache
def catalogue(language: Language) -> Catalogue:
    """The catalogue of `language`, read once from the package."""
    name = f"{language}.toml"
    raw = tomllib.loads((files(__name__) / name).read_text(encoding="utf-8"))
    known = {"why", "robot", "instruction"}
    if set(raw) != known:
        raise CatalogueError(f"{name}: tables {sorted(raw)}, expected {sorted(known)}")
    steps = _table(name, raw, "instruction", Step)
    for key, template in steps.items():
        named = {field for _, field, _, _ in Formatter().parse(template) if field is not None}
        if not named <= PLACEHOLDERS:
            raise CatalogueError(f"{name}: instruction.{key} names {sorted(named - PLACEHOLDERS)}")
    return Catalogue(
        language, _table(name, raw, "why", REASONS), _table(name, raw, "robot", REFUSALS), steps
    )


def _table(name: str, raw: dict[str, object], table: str, keys: Iterable[str]) -> dict[str, str]:
    """One table of texts, exactly one string for each of `keys`."""
    texts = raw[table]
    expected = set(keys)
    if not isinstance(texts, dict) or not all(isinstance(t, str) for t in texts.values()):
        raise CatalogueError(f"{name}: [{table}] is not a table of texts")
    if missing := expected - set(texts):
        raise CatalogueError(f"{name}: [{table}] has no text for {', '.join(sorted(missing))}")
    if unknown := set(texts) - expected:
        raise CatalogueError(f"{name}: [{table}] has unknown keys {', '.join(sorted(unknown))}")
    return dict(texts)

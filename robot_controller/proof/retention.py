"""Retention: how long the log keeps a record, and `fmd-robot log prune` once it has passed.

Every event is kept `keep_years` after it was recorded and, when it is about a pack whose
expiry is printed, `keep_after_expiry_years` after the end of that expiry day, whichever is
later (by default the longer of 1 year after expiry and 5 years: Art. 15 of the Delegated
Regulation 2016/161 for manufacturers' records, the obvious rule to copy). A prune deletes
only a prefix of the chain whose every event is past its retention, cut at the last good
checkpoint in it, and the rows of the packs whose events all lie in that prefix; it needs a
log that verifies, and it is recorded (`audit_prunes` and a `log.pruned` event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from fmd.codes.dates import parse_yymmdd, parse_yyyymmdd
from robot_controller.proof.keys import PublicKey
from robot_controller.proof.verify import verify
from robot_controller.store import Store
from robot_controller.store.prunes import Kept, Pruned


class PruneRefused(Exception):
    """The log cannot be pruned as it is (it does not verify); the message says why."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long records are kept."""

    keep_years: int = 5
    keep_after_expiry_years: int = 1

    def kept_until(self, at: datetime, expiries: Sequence[str]) -> datetime:
        """Until when an event recorded `at` is kept, its pack's printed expiry dates given."""
        until = add_years(at, self.keep_years)
        for raw in expiries:
            expiry = printed_expiry(raw, at.year)
            if expiry is not None:
                end_of_day = datetime.combine(expiry, time.max, tzinfo=UTC)
                until = max(until, add_years(end_of_day, self.keep_after_expiry_years))
        return until


def add_years(at: datetime, years: int) -> datetime:
    """The same moment `years` later (29 February becomes 28 February)."""
    try:
        return at.replace(year=at.year + years)
    except ValueError:
        return at.replace(year=at.year + years, day=28)


def printed_expiry(raw: str, year: int) -> date | None:
    """An expiry as printed (YYMMDD, or YYYYMMDD), read near `year`; None when it is no date."""
    if len(raw) == 8:
        return parse_yyyymmdd(raw)
    return parse_yymmdd(raw, year).value


@dataclass(frozen=True, slots=True)
class PruneOutcome:
    """What a prune did (or, dry, would do): `pruned` None when nothing is due, `kept` the
    first event kept."""

    pruned: Pruned | None
    kept: Kept | None
    dry_run: bool


def prune_log(
    store: Store,
    retention: Retention,
    keys: Sequence[PublicKey],
    folder: Path | None,
    *,
    actor: str,
    why: str,
    now: datetime,
    dry_run: bool = False,
) -> PruneOutcome:
    """Prune what is past its retention at `now` (see the module's docstring);
    `PruneRefused` when the log does not verify against `keys` and `folder`."""
    report = verify(store, keys, folder)
    if not report.ok:
        raise PruneRefused(
            f"the log does not verify ({len(report.findings) + report.more} findings; "
            "`fmd-robot audit verify` names them): nothing was pruned"
        )
    last, kept = store.past_retention(retention.kept_until, now=now)
    cuts = [row for row in report.good if report.first_seq <= row.seq <= last]
    if not cuts:
        return PruneOutcome(None, kept, dry_run)
    through = max(cuts, key=lambda row: (row.seq, row.id))
    if dry_run:
        return PruneOutcome(store.prune_plan(through), kept, dry_run)
    return PruneOutcome(store.prune(through, actor=actor, why=why, at=now), kept, dry_run)

"""`audit verify` from the screens: the same check as `fmd-robot audit verify` (the chain
re-computed, every checkpoint in the store and in the folder checked against the configured
key), its result kept with who ran it and when, and an `audit.verified` event recording it.

The command line's verify opens the store read-only and records nothing; here a person asks
for it, so the log says who checked it, when, and what they were shown (ALCOA: attributable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from robot_controller.config import Config, ConfigError
from robot_controller.proof.configured import checkpoint_folder, trusted_keys
from robot_controller.proof.verify import UNREADABLE, Report, unreadable, verdict, verify
from robot_controller.store import Store
from robot_controller.store.chain_walk import Finding


@dataclass(frozen=True, slots=True)
class Verified:
    """One run of the check: who, when, and the report (None when it could not run: `error`
    says why)."""

    actor: str
    at: datetime
    report: Report | None
    summary: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.report is not None and self.report.ok

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.report.findings if self.report is not None else ()


def check_log(config: Config, store: Store, *, actor: str, at: datetime) -> Verified:
    """Verify the log as `fmd-robot audit verify` does with the configured key and folder,
    and record the result as `actor`'s `audit.verified` event (blocking: run it in a
    thread)."""
    folder = checkpoint_folder(config)
    try:
        report = verify(store, trusted_keys(config, []), folder)
    except ConfigError as error:
        return Verified(actor, at, None, f"not checked: {error}", str(error))
    except UNREADABLE as error:
        return Verified(actor, at, None, f"not checked: {unreadable(error)}", unreadable(error))
    said = f"{'intact' if report.ok else 'broken'}: {verdict(report, folder)}"
    store.record_verified(report.ok, verdict(report, folder), actor=actor, at=at,
                          last_seq=report.last_seq,
                          findings=len(report.findings) + report.more)  # fmt: skip
    return Verified(actor, at, report, said)

"""What the compliance API takes and answers: the log search's parameters and the typed shapes
of packs, histories, the quarantine inventory and an `audit verify` result."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from fmd.policy import Why
from robot_controller.states import Route

MAX_PAGE_SIZE = 200
"""The most packs a page of the log search shows (more is an export: `GET /api/v1/log.csv`)."""
DEFAULT_PAGE_SIZE = 50
_TEXT = 200  # the longest identifier, name or code a filter takes


class LogFilters(BaseModel):
    """What a log search asks for: every filter given must match; `from`/`to` bound when the
    pack was scanned (a date, its first instant / the whole day, or a date and time, UTC)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: int | None = Field(None, ge=1, description="One scan (its token).")
    product_code: str | None = Field(None, max_length=_TEXT)
    serial: str | None = Field(None, max_length=_TEXT)
    batch: str | None = Field(None, max_length=_TEXT)
    actor: str | None = Field(None, max_length=_TEXT, description="Someone with an event on it.")
    route: Route | None = None
    why: Why | None = None
    return_code: str | None = Field(None, max_length=_TEXT)
    since: str | None = Field(
        None, alias="from", max_length=40, description="YYYY-MM-DD or date and time (UTC)."
    )
    until: str | None = Field(
        None, alias="to", max_length=40, description="YYYY-MM-DD (whole day) or date and time."
    )

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_any(cls, value: Any) -> Any:
        """A form's empty field is no filter; text is taken without its surrounding spaces."""
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def filters(self) -> dict[str, str]:
        """The filters given, as the query string spells them (page and size left out)."""
        given = self.model_dump(
            exclude={"page", "page_size"}, exclude_none=True, by_alias=True, mode="json"
        )
        return {name: str(value) for name, value in given.items()}


class LogQuery(LogFilters):
    """A log search and which page of it, newest first."""

    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, json_schema_extra={"maximum": MAX_PAGE_SIZE})

    @field_validator("page_size")
    @classmethod
    def _a_page_not_a_report(cls, size: int) -> int:
        if size > MAX_PAGE_SIZE:
            raise PydanticCustomError(
                "page_too_large",
                "at most {most} packs a page, not {size}: page on, or download the search as CSV",
                {"most": MAX_PAGE_SIZE, "size": size},
            )
        return size


class PackOut(BaseModel):
    """One pack (one scan) as the search finds it."""

    token: int
    recorded_at: datetime
    source: str
    product_code: str | None
    serial: str | None
    batch: str | None
    expiry: str | None = Field(description="As printed on the pack (YYMMDD).")
    route: str | None = Field(description="None: not finished (in flight, or lost).")
    why: str | None
    flagged: bool
    return_code: str | None = Field(description="Of its last hub call.")


class LogPage(BaseModel):
    """One page of a log search, newest first."""

    items: list[PackOut]
    total: int = Field(description="How many packs match in all.")
    page: int
    page_size: int
    next: str | None = Field(description="The next page's URL (None: this is the last).")


class HappeningOut(BaseModel):
    """One entry of a pack's history: when, which scan, what kind, in words, and its fields
    (an audit event's actor, why, before and after; a hub call's code and latency…)."""

    at: datetime
    token: int
    kind: str
    what: str
    detail: dict[str, Any]


class HistoryOut(BaseModel):
    token: int
    product_code: str | None
    serial: str | None
    tokens: list[int] = Field(description="Every scan of the same pack.")
    events: list[HappeningOut]


class CaseOut(BaseModel):
    id: int
    alert_id: str | None
    return_code: str
    state: str
    raised_at: datetime


class QuarantinedOut(BaseModel):
    """A pack in the quarantine chute, the longest there first."""

    token: int
    product_code: str | None
    serial: str | None
    batch: str | None
    expiry: str | None
    why: str
    message: str
    since: datetime
    flagged: bool
    alert: CaseOut | None


class FindingOut(BaseModel):
    kind: str
    seq: int | None
    message: str


class VerifiedOut(BaseModel):
    """The last `audit verify`: who ran it, when, and what it found."""

    ok: bool
    at: datetime
    actor: str
    summary: str
    events: int
    first_seq: int
    last_seq: int
    checkpoints: int
    files: int
    unsigned: int
    findings: list[FindingOut]
    more_findings: int
    error: str | None = Field(description="Why the check could not run (then `ok` is false).")


class AuditOut(BaseModel):
    last: VerifiedOut | None = Field(description="None: not verified since the daemon started.")
    running: bool

"""Rows ↔ domain objects: the one place that knows how packs, problems and decisions are stored."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fmd.codes.model import PackIdentifier, ParsedScan, Problem
from fmd.hub.contract import HubResult, ManualEntry, Reason
from fmd.policy import Action, Decision, Why
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store.records import Intent


def encode_raw(raw: str) -> bytes:
    """A scan's text as stored: UTF-8 with surrogatepass, so any str survives."""
    return raw.encode("utf-8", "surrogatepass")


def decode_raw(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def ui_columns(ui: PackIdentifier | ManualEntry) -> dict[str, Any]:
    """The columns of a pack identifier (or a pack keyed in by hand) as sent to the hub (no
    NHRN)."""
    return {
        "scheme": ui.scheme,
        "product_code": ui.product_code,
        "serial": ui.serial,
        "batch": ui.batch,
        "expiry_raw": ui.expiry_raw,
    }


def full_ui_columns(ui: PackIdentifier) -> dict[str, Any]:
    """All columns of a pack identifier, NHRN included (the outbox keeps it to resend)."""
    return {**ui_columns(ui), "nhrn": ui.nhrn, "nhrn_ai": ui.nhrn_ai}


def ui_of(row: Any) -> PackIdentifier:
    """The pack identifier of a row with `full_ui_columns` (the date itself is not kept)."""
    return PackIdentifier(
        scheme=row.scheme,
        product_code=row.product_code,
        serial=row.serial,
        batch=row.batch,
        expiry=None,
        expiry_raw=row.expiry_raw,
        nhrn=row.nhrn,
        nhrn_ai=row.nhrn_ai,
    )


def problems_json(problems: Iterable[Problem]) -> str:
    return json.dumps([p.as_json() for p in problems])


def parsed_columns(parsed: ParsedScan) -> dict[str, Any]:
    """What a scan parsed to, as a decision row keeps it."""
    return {
        "format": parsed.format,
        "scheme": parsed.scheme,
        "product_code": parsed.product_code,
        "serial": parsed.serial,
        "batch": parsed.batch,
        "expiry_raw": parsed.expiry_raw,
        "problems": problems_json(parsed.problems),
    }


def decision_columns(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action.value,
        "why": decision.why.value,
        "message": decision.message,
        "decommission_to": decision.decommission_to.value if decision.decommission_to else None,
    }


def decision_of(row: Any) -> Decision:
    return Decision(
        action=Action(row.action),
        why=Why(row.why),
        message=row.message,
        decommission_to=Reason(row.decommission_to) if row.decommission_to else None,
    )


def result_columns(result: HubResult) -> dict[str, Any]:
    """The hub's answer, as a verification row keeps it."""
    return {
        "outcome": result.outcome,
        "return_code": result.return_code,
        "state": result.state.value,
        "reasons": ",".join(result.reasons),
        "hub_trx_id": result.hub_trx_id,
        "alert_id": result.alert_id,
        "message": result.message,
        "product_name": result.product_name or None,
    }


def intent_of(row: Any) -> Intent:
    """An outbox row as an intent."""
    return Intent(
        id=row.id,
        token=row.token,
        operation=HubOperation(row.operation),
        reason=Reason(row.reason) if row.reason else None,
        client_trx_id=row.client_trx_id,
        ui=ui_of(row),
        status=IntentStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        last_code=row.last_code,
        actor=row.actor,
        note=row.note,
        location=row.location,
    )

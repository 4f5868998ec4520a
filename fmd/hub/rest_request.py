"""What `RestHubClient` sends, as pure functions: pack URLs, bodies, and many-pack requests.

Shapes as Solidsoft's integration library writes them (nmvs.md §2.7, §2.9):

- one pack: `product/{gs1|ifa}/{code}/pack/{serial}?batch=&expiry=` (batch and expiry left out
  when a manual entry has none), `PATCH` body `{"state": "Supplied" | … | "Active"}`; an undo
  is `{"state": "Active"}` alone (the hub reactivates from the pack's state: the reason it is
  reverted from and the decommission's trx id are not carried);
- bulk, `POST product/packs`: `{"state": …, "numberOfPacks": n, "packs": [pack…]}` with one
  target state for every pack (no `state` to verify them), each pack at most once;
- recovery, `POST recovery/packs`: `{"numberOfPacks": n, "packs": [pack…]}`, each pack with its
  own `transitionType` (`SUPPLIED`, …, `ACTIVE`; none to verify), processed in order;
- a pack in a body: `productCodeScheme`, `productCode`, `serialNumber`, `batchId`,
  `expiryDate`.

A request that breaks the field limits of nmvs.md §2.4 is refused here and never sent; check
digits are left to the hub (send what was scanned).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fmd.codes.model import PackIdentifier, Scheme
from fmd.hub import rest_codes as codes
from fmd.hub.contract import PACK_LEVEL_REASONS, BulkItem, ManualEntry, Reason
from fmd.hub.validation import field_ok, trx_problem

_PRODUCT_CODE = re.compile(r"[0-9A-Za-z]{1,22}")

PackKey = tuple[str, str, str]
"""(scheme name, product code, serial): how a pack in a many-pack answer is recognised."""


@dataclass(frozen=True, slots=True)
class Submission:
    """One many-pack request: its route, JSON body, and the positions (in the caller's list of
    items) and keys of the packs it carries, in order."""

    route: codes.Route
    body: dict[str, Any]
    positions: tuple[int, ...]
    keys: tuple[PackKey, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The requests that carry a list of items, and the items refused before sending."""

    submissions: tuple[Submission, ...]
    refused: Mapping[int, str]  # position → why it is not sent


def pack_path(scheme: Scheme, product_code: str, serial: str) -> str:
    """The path of one pack below the API base; the serial is percent-encoded (GS1 serials may
    hold `/`, `%`, `?`, …)."""
    name = codes.SCHEME_NAMES[scheme]
    return f"product/{name}/{product_code}/pack/{quote(serial, safe='')}"


def pack_params(batch: str | None, expiry_raw: str | None) -> dict[str, str]:
    """The query of a pack request: batch and expiry, each only when there is one."""
    given = {"batch": batch, "expiry": expiry_raw}
    return {name: value for name, value in given.items() if value is not None}


def state_body(to: Reason | None) -> dict[str, str]:
    """The `PATCH` body that decommissions to `to`, or reactivates (`to` None)."""
    return {"state": codes.ACTIVE if to is None else codes.STATE_NAMES[to]}


def request_problem(ui: PackIdentifier, trx: str | None) -> str | None:
    """What breaks the request field limits (nmvs.md §2.4), or None."""
    return _problem(ui.scheme, ui.product_code, ui.serial, ui.batch, trx)


def entry_problem(entry: ManualEntry, trx: str | None) -> str | None:
    """What breaks the field limits in a manual entry (batch checked only when keyed in)."""
    return _problem(entry.scheme, entry.product_code, entry.serial, entry.batch, trx)


def reason_problem(operation: str, reason: Reason | None) -> str | None:
    """Why a decommission or undo cannot be sent with `reason`, or None."""
    if reason is None:
        return f"a {operation} needs a reason"
    if reason not in PACK_LEVEL_REASONS:
        return f"{reason} is not a reason a pack can be set to or reverted from"
    return None


def plan_bulk(items: Sequence[BulkItem], max_packs: int) -> Plan:
    """Bulk requests for `items`: one per target state (in the order the states first appear),
    split where a pack would come twice or a request would pass `max_packs`."""
    refused: dict[int, str] = {}
    groups: dict[str | None, list[int]] = {}
    for position, item in enumerate(items):
        problem = _item_problem(item)
        if problem is not None:
            refused[position] = problem
            continue
        state = None if item.operation == "verify" else _bulk_state(item)
        groups.setdefault(state, []).append(position)
    submissions: list[Submission] = []
    for state, positions in groups.items():
        for chunk in _chunks(items, positions, max_packs, unique=True):
            head = {} if state is None else {"state": state}
            submissions.append(_submission(codes.BULK, head, items, chunk, transitions=False))
    return Plan(tuple(submissions), refused)


def plan_recovery(items: Sequence[BulkItem], max_packs: int) -> Plan:
    """Recovery requests for `items`, in their order, split where one would pass `max_packs`."""
    refused: dict[int, str] = {}
    positions: list[int] = []
    for position, item in enumerate(items):
        problem = _item_problem(item)
        if problem is None and item.operation != "verify" and _transition(item) is None:
            problem = f"a recovery request cannot carry a decommission to {item.to}"
        if problem is not None:
            refused[position] = problem
        else:
            positions.append(position)
    submissions = tuple(
        _submission(codes.RECOVERY, {}, items, chunk, transitions=True)
        for chunk in _chunks(items, positions, max_packs, unique=False)
    )
    return Plan(submissions, refused)


def pack_key(ui: PackIdentifier) -> PackKey:
    """How the hub's answer names this pack."""
    return codes.SCHEME_NAMES[ui.scheme], ui.product_code, ui.serial


def wire_pack(ui: PackIdentifier) -> dict[str, str]:
    """A pack as a many-pack body carries it."""
    return {
        "productCodeScheme": codes.SCHEME_NAMES[ui.scheme],
        "productCode": ui.product_code,
        "serialNumber": ui.serial,
        "batchId": ui.batch,
        "expiryDate": ui.expiry_raw,
    }


def _problem(
    scheme: str, product_code: str, serial: str, batch: str | None, trx: str | None
) -> str | None:
    if trx is not None:
        problem = trx_problem(trx)
        if problem is not None:
            return problem.message
    if scheme not in codes.SCHEME_NAMES:
        return f"product code scheme {scheme!r} is not GTIN or PPN"
    if not _PRODUCT_CODE.fullmatch(product_code):
        return f"product code {product_code!r} is not 1–22 letters or digits"
    if not field_ok(serial):
        return f"serial {serial!r} is not 1–20 GS1 characters"
    if batch is not None and not field_ok(batch):
        return f"batch {batch!r} is not 1–20 GS1 characters"
    return None


def _item_problem(item: BulkItem) -> str | None:
    problem = request_problem(item.ui, None)
    if problem is None and item.operation != "verify":
        problem = reason_problem(item.operation, item.to)
    return problem


def _transition(item: BulkItem) -> str | None:
    """A recovery pack command's `transitionType` (None: a verify, or a reason it lacks)."""
    if item.operation == "undo":
        return codes.REACTIVATE
    if item.operation == "decommission" and item.to is not None:
        return codes.TRANSITIONS.get(item.to)
    return None


def _bulk_state(item: BulkItem) -> str:
    return state_body(item.to if item.operation == "decommission" else None)["state"]


def _chunks(
    items: Sequence[BulkItem], positions: list[int], max_packs: int, *, unique: bool
) -> list[list[int]]:
    """`positions` cut into runs of at most `max_packs`, and (`unique`) without a pack twice."""
    chunks: list[list[int]] = []
    seen: set[PackKey] = set()
    for position in positions:
        key = pack_key(items[position].ui)
        if not chunks or len(chunks[-1]) >= max_packs or (unique and key in seen):
            chunks.append([])
            seen = set()
        chunks[-1].append(position)
        seen.add(key)
    return chunks


def _submission(
    route: codes.Route,
    head: dict[str, Any],
    items: Sequence[BulkItem],
    positions: list[int],
    *,
    transitions: bool,
) -> Submission:
    packs = []
    for position in positions:
        item = items[position]
        pack = wire_pack(item.ui)
        transition = _transition(item) if transitions else None
        if transition is not None:
            pack["transitionType"] = transition
        packs.append(pack)
    body = {**head, "numberOfPacks": len(packs), "packs": packs}
    keys = tuple(pack_key(items[p].ui) for p in positions)
    return Submission(route, body, tuple(positions), keys)

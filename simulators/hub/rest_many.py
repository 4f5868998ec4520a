"""The simulator's many-pack requests of the REST dialect: bulk and recovery (nmvs.md §2.9).

- `POST /api/product/packs`, `{"state"?, "numberOfPacks", "packs": [pack…]}`: one target state
  for all the packs (none: verify them; `Active`: undo each from its own state), each pack at
  most once (422 `62120000` otherwise; Solidsoft's library says the real system raises an alert
  then, which the simulator does not).
- `POST /api/recovery/packs`, `{"numberOfPacks", "packs": [pack…]}`: each pack with its own
  `transitionType` (none: verify; `SUPPLIED`, …; `ACTIVE`: undo), processed in order.
- a pack: `productCodeScheme` (`gs1` when left out), `productCode`, `serialNumber`, `batchId`,
  `expiryDate`.

The MockHub processes a request at once (as one bulk: its faults hit it as a whole; throttled
or failed as a whole, it is answered 429 or 503). It is answered 202 with `Location:
…/packs/{id}` and `{"operationCode", "eta", "expires"}`; a `GET` of the location answers 200
`{"operationCode", "packs": [{"pack": {…}, "result": {…}}]}`, or 404 for results forgotten
(the last `KEPT` are kept) or asked for by another location.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from fmd.codes.model import PackIdentifier
from fmd.hub import MockHub
from fmd.hub import rest_codes as codes
from fmd.hub.contract import (
    PACK_LEVEL_REASONS,
    BulkItem,
    BulkResult,
    HubUnavailable,
    Operation,
    Reason,
)
from fmd.hub.mock import MockHubClient
from simulators.hub.rest_answers import RATE_LIMIT_RETRY_AFTER_S, error, pack_result

KEPT = 1000
MAX_PACKS = 100_000
RESULTS_KEPT_FOR = timedelta(hours=1)
_ROUTES = {route.path.split("/")[0]: route for route in (codes.BULK, codes.RECOVERY)}
_PACK_FIELDS = ("productCode", "serialNumber", "batchId", "expiryDate")

Command = tuple[Operation, Reason | None]


@dataclass(frozen=True, slots=True)
class _Kept:
    route: codes.Route
    packs: tuple[dict[str, str], ...]
    answer: BulkResult


class ManyPacks:
    """The bulk and recovery requests of one simulator, and the results it keeps."""

    def __init__(self, hub: MockHub) -> None:
        self.hub = hub
        self._kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()

    async def submit(
        self, route_name: str, client: MockHubClient, raw: bytes, url: str
    ) -> Response:
        """Process a request posted to `url` and acknowledge it (or refuse it)."""
        route = _ROUTES.get(route_name)
        if route is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        read = _read(route, raw, self.hub)
        if isinstance(read, Response):
            return read
        packs, items = read
        try:
            answer = await (client.bulk(items) if route is codes.BULK else client.mixed(items))
        except HubUnavailable as failure:
            return error(codes.UNAVAILABLE, str(failure))
        outcomes = {result.outcome for result in answer.results}
        if outcomes == {"rate_limited"}:
            retry = {"Retry-After": str(RATE_LIMIT_RETRY_AFTER_S)}
            return error(codes.THROTTLED, "the request was not processed", retry)
        if outcomes == {"technical"}:
            op = codes.FOR_NMVS.get(answer.results[0].return_code, codes.TECHNICAL)
            return error(op, "the request was not processed")
        name = str(uuid.uuid4())
        self._kept[client.location, name] = _Kept(route, packs, answer)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        now = datetime.now(UTC)
        body = {
            "operationCode": int(route.accepted.code),
            "eta": _iso(now),
            "expires": _iso(now + RESULTS_KEPT_FOR),
        }
        location = f"{url.rstrip('/')}/{name}"
        return JSONResponse(body, status_code=202, headers={"Location": location})

    def results(self, route_name: str, location: str, name: str) -> Response:
        """The results of a request `location` posted."""
        kept = self._kept.get((location, name))
        if kept is None or kept.route is not _ROUTES.get(route_name):
            return error(codes.RESULTS_UNKNOWN, f"no results {name!r} for this location")
        packs = [
            {"pack": pack, "result": pack_result(result, pack["serialNumber"], pack["batchId"])}
            for pack, result in zip(kept.packs, kept.answer.results, strict=True)
        ]
        return JSONResponse({"operationCode": int(kept.route.ready.code), "packs": packs})


def own_reason(hub: MockHub, ui: PackIdentifier) -> Reason:
    """The pack-level reason the pack is inactive for (SUPPLIED if none: the undo then fails)."""
    _, reasons = hub.pack_state(ui.product_code, ui.serial)
    return next((r for r in reasons if r in PACK_LEVEL_REASONS), Reason.SUPPLIED)


def _read(
    route: codes.Route, raw: bytes, hub: MockHub
) -> tuple[tuple[dict[str, str], ...], list[BulkItem]] | Response:
    """The packs and items a request body asks for, or the 422 answer to a body that is wrong."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return error(route.bad_body, "body is not valid JSON")
    packs = body.get("packs") if isinstance(body, dict) else None
    if not isinstance(packs, list) or not packs:
        return error(route.bad_body, "'packs' is not a list of packs")
    count = body.get("numberOfPacks")
    if not isinstance(count, int) or isinstance(count, bool) or count != len(packs):
        return error(route.count_mismatch, f"numberOfPacks {count!r}, {len(packs)} packs")
    if len(packs) > MAX_PACKS:
        return error(route.too_many, f"at most {MAX_PACKS} packs")
    common = _bulk_command(body.get("state")) if route is codes.BULK else None
    if route is codes.BULK and common is None:
        return error(route.bad_body, f"state {body.get('state')!r} cannot be set on a pack")
    read: list[dict[str, str]] = []
    items: list[BulkItem] = []
    after: dict[tuple[str, str], Reason | None] = {}  # a pack's own reason after earlier items
    seen: set[tuple[str, str]] = set()
    for entry in packs:
        pack = _pack(entry)
        command = common or _transition(entry)
        if pack is None or command is None:
            return error(route.bad_body, f"pack {entry!r} cannot be read")
        ui = PackIdentifier(
            codes.SCHEMES_BY_NAME[pack["productCodeScheme"]],
            pack["productCode"],
            pack["serialNumber"],
            pack["batchId"],
            None,
            pack["expiryDate"],
        )
        operation, to = command
        key = (ui.product_code, ui.serial)
        seen.add(key)
        if operation == "undo":
            to = (after[key] if key in after else own_reason(hub, ui)) or Reason.SUPPLIED
            after[key] = None
        elif operation == "decommission":
            after[key] = to
        read.append(pack)
        items.append(BulkItem(ui, operation, to))
    if route.duplicates is not None and len(seen) < len(read):
        return error(route.duplicates, "a serial number is given twice for one product")
    return tuple(read), items


def _pack(entry: Any) -> dict[str, str] | None:
    """A pack of a request body with its scheme named, or None when it cannot be read."""
    if not isinstance(entry, dict):
        return None
    scheme = entry.get("productCodeScheme", codes.SCHEME_NAMES["GTIN"])
    values = [entry.get(name) for name in _PACK_FIELDS]
    if scheme not in codes.SCHEMES_BY_NAME or not all(isinstance(v, str) for v in values):
        return None
    return {"productCodeScheme": scheme, **dict(zip(_PACK_FIELDS, values, strict=True))}


def _bulk_command(state: object) -> Command | None:
    """What a bulk's `state` asks of every pack, or None for a state no pack can be set to."""
    if state is None:
        return "verify", None
    if state == codes.ACTIVE:
        return "undo", None
    to = codes.REASONS_BY_STATE.get(state) if isinstance(state, str) else None
    return ("decommission", to) if to in PACK_LEVEL_REASONS else None


def _transition(entry: Any) -> Command | None:
    """What a recovery pack command's `transitionType` asks, or None for an unknown one."""
    transition = entry.get("transitionType") if isinstance(entry, dict) else None
    if transition is None:
        return "verify", None
    if transition == codes.REACTIVATE:
        return "undo", None
    to = codes.TRANSITION_REASONS.get(transition) if isinstance(transition, str) else None
    return None if to is None else ("decommission", to)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")

"""What we answer a WWKS2 InputRequest, and what we make of the robot's own reading. Pure.

The decision is made from the ScanCode alone. The robot's BatchNumber, ExpiryDate, SerialNumber
and ExternalId may be its own parse, an OCR reading or a guess (wwks2.md §5.4): they are only
compared with the code, and a disagreement is a reason to reject the pack. An allowed pack's
answer mirrors the request's attributes (M622: an omitted one may be reset to its default) with
batch, serial and expiry as the code says.
"""

from __future__ import annotations

from dataclasses import dataclass

from fmd.codes.model import PackIdentifier
from wwks2.messages import (
    Handling,
    InputHandling,
    InputRequest,
    InputRequestArticle,
    InputRequestPack,
    InputResponse,
    InputResponseArticle,
    InputResponsePack,
)

ALLOWED = frozenset({InputHandling.ALLOWED, InputHandling.ALLOWED_FOR_FRIDGE})


@dataclass(frozen=True, slots=True)
class PackAnswer:
    """One pack's answer: its handling, the text the robot shows, the code as we parsed it."""

    handling: InputHandling
    text: str | None = None
    ui: PackIdentifier | None = None


def disagreement(pack: InputRequestPack, ui: PackIdentifier) -> str | None:
    """How the robot's own reading of a pack contradicts its scanned code (None: it does not)."""
    serials = {
        "SerialNumber": pack.serial_number,
        "ExternalId": pack.external_id,
    }
    for name, serial in serials.items():
        if serial is not None and serial != ui.serial:
            return f"the robot's {name} {serial!r} is not the code's serial {ui.serial!r}"
    if pack.batch_number is not None and pack.batch_number != ui.batch:
        return f"the robot's BatchNumber {pack.batch_number!r} is not the code's batch {ui.batch!r}"
    if pack.expiry_date is not None and pack.expiry_date != ui.expiry:
        code = ui.expiry.isoformat() if ui.expiry else ui.expiry_raw
        source = f" ({pack.expiry_date_source.value})" if pack.expiry_date_source else ""
        robots = pack.expiry_date.isoformat()
        return f"the robot's ExpiryDate {robots}{source} is not the code's {code}"
    return None


def input_response(
    request: InputRequest, answers: list[PackAnswer], *, source: int
) -> InputResponse:
    """The InputResponse to `request`, its packs answered in order by `answers` (one per pack of
    the request, article by article), addressed to the request's Source."""
    count = sum(len(article.packs) for article in request.articles)
    if len(answers) != count:
        raise ValueError(
            f"{len(answers)} answers for the {count} packs of InputRequest {request.id}"
        )
    remaining = iter(answers)
    articles = tuple(
        _article(article, [next(remaining) for _ in article.packs]) for article in request.articles
    )
    return InputResponse(
        request.id,
        source,
        request.source,
        is_new_delivery=request.is_new_delivery,
        articles=articles,
    )


def rejection(
    id: str, source: int, destination: int, indexes: tuple[int | None, ...], text: str
) -> InputResponse:
    """An InputResponse rejecting every pack of a request that could not be read."""
    packs = tuple(
        InputResponsePack(Handling(InputHandling.REJECTED, text), index=index) for index in indexes
    )
    return InputResponse(id, source, destination, articles=(InputResponseArticle(packs=packs),))


def _article(article: InputRequestArticle, answers: list[PackAnswer]) -> InputResponseArticle:
    allowed = [answer.ui for answer in answers if answer.handling in ALLOWED and answer.ui]
    article_id = article.id or (allowed[0].product_code if allowed else None)
    packs = tuple(_pack(pack, answer) for pack, answer in zip(article.packs, answers, strict=True))
    return InputResponseArticle(id=article_id, packs=packs)


def _pack(pack: InputRequestPack, answer: PackAnswer) -> InputResponsePack:
    handling = Handling(answer.handling, answer.text)
    ui = answer.ui
    if answer.handling not in ALLOWED or ui is None:
        return InputResponsePack(handling, index=pack.index)
    return InputResponsePack(
        handling,
        index=pack.index,
        delivery_number=pack.delivery_number,
        batch_number=ui.batch,
        external_id=pack.external_id,
        serial_number=ui.serial,
        expiry_date=ui.expiry,
        sub_item_quantity=pack.sub_item_quantity,
        stock_location_id=pack.stock_location_id,
    )
